package media

import "testing"

func TestTelephoneEventWire(t *testing.T) {
	// Digit 5, end, volume 10, duration 1120 (RFC 4733 §2.3 layout).
	b := []byte{5, 0x80 | 10, 0x04, 0x60}
	var e TelephoneEvent
	if err := e.Unmarshal(b); err != nil || e != (TelephoneEvent{Event: 5, End: true, Volume: 10, Duration: 1120}) {
		t.Fatalf("Unmarshal = %+v %v", e, err)
	}
	out := make([]byte, 4)
	if n, _ := e.MarshalTo(out); n != 4 || string(out) != string(b) {
		t.Fatalf("MarshalTo = %x", out)
	}
	if err := e.Unmarshal(b[:3]); err == nil {
		t.Fatal("short payload accepted")
	}
}

func TestDTMFReceiverDeduplicates(t *testing.T) {
	var r DTMFReceiver
	var got []rune
	push := func(ts uint32, ev uint8, end bool, dur uint16) {
		b := make([]byte, 4)
		TelephoneEvent{Event: ev, End: end, Volume: 10, Duration: dur}.MarshalTo(b)
		if d, ok, err := r.Push(ts, b); err != nil {
			t.Fatal(err)
		} else if ok {
			got = append(got, d)
		}
	}
	// '1' spans 5 packets plus 2 redundant end packets.
	for i, dur := range []uint16{160, 320, 480, 640, 800} {
		push(1000, 1, i == 4, dur)
	}
	push(1000, 1, true, 800)
	push(1000, 1, true, 800)
	// '1' again: a new event, a new timestamp.
	push(3000, 1, false, 160)
	push(3000, 1, true, 320)
	// '#', start packet lost: the first packet seen still counts once.
	push(5000, 11, false, 480)
	push(5000, 11, true, 640)
	push(7000, 16, true, 160) // not DTMF (flash): ignored
	// '5' twice from a replayed recording that reuses its timestamp (sipp's
	// pcaps): the second start is a new press; a continuation reordered
	// after the end packet is not.
	for range 2 {
		for i, dur := range []uint16{160, 480, 800} {
			push(9000, 5, i == 2, dur)
		}
		push(9000, 5, false, 640)
		push(9000, 5, true, 800)
	}
	if string(got) != "11#55" {
		t.Fatalf("digits %q, want \"11#55\"", string(got))
	}
}

func TestDigitMapping(t *testing.T) {
	for i, c := range "0123456789*#ABCD" {
		if d, ok := DigitOf(uint8(i)); !ok || d != c {
			t.Errorf("DigitOf(%d) = %q", i, d)
		}
		if e, err := EventOf(c); err != nil || int(e) != i {
			t.Errorf("EventOf(%q) = %d %v", c, e, err)
		}
	}
	if _, err := EventOf('x'); err == nil {
		t.Error("EventOf('x') accepted")
	}
}

func FuzzTelephoneEvent(f *testing.F) {
	f.Add(uint32(1), []byte{5, 0x8a, 0, 160})
	f.Add(uint32(0), []byte{})
	f.Fuzz(func(t *testing.T, ts uint32, b []byte) {
		var r DTMFReceiver
		r.Push(ts, b)
		if d, ok, err := r.Push(ts, b); ok || (err == nil && d != 0) {
			t.Fatalf("same packet twice gave a second digit %q", d)
		}
		var e TelephoneEvent
		if e.Unmarshal(b) == nil {
			out := make([]byte, 4)
			e.MarshalTo(out)
			var e2 TelephoneEvent
			if e2.Unmarshal(out); e2 != e {
				t.Fatalf("round trip %+v != %+v", e2, e)
			}
		}
	})
}
