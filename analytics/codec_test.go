package analytics

import (
	"reflect"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func sampleAttempt() Attempt {
	t0 := time.Date(2026, 12, 8, 15, 4, 5, 123e6, time.UTC)
	return Attempt{
		AttemptID: NewAttemptID(), CampaignID: "c1", AccountID: "MX-1", Phone: "+525512345678", Channel: Voice,
		NodeID: "n1", Trunk: "t1", AttemptNo: 3, StartedAt: t0, AnsweredAt: t0.Add(5 * time.Second),
		EndedAt: t0.Add(65 * time.Second), RingMS: 5000, TalkMS: 60000, SIPCode: 200, Disposition: "answered",
		Reason: "", AMD: "human", AgentID: "a7", Abandoned: true, DTMF: "19", IVRPath: "menu>promise",
		PromiseAmount: decimal.RequireFromString("1250.50"), PromiseDate: time.Date(2026, 12, 15, 0, 0, 0, 0, time.UTC),
		Currency: "MXN", Country: "MX", LocalHour: 9, LocalWeekday: 2, Ver: 42,
		MessageSID: "SM1", MessageStatus: "undelivered", MessageError: 30003, Segments: 2, Template: "missed-call",
		WrapMS: 12000, AgentCode: "promise", RightParty: true, Recording: "2026/12/08/x.wav", RecordingError: "",
		AMDCause: "short_greeting", AMDMS: 1160, Segment: "late-90",
	}
}

// Spools written by earlier versions (formats 1 to 3) still decode: each
// format is the one before plus trailing fields, one byte each when empty.
func TestAttemptOldFormatsStillDecode(t *testing.T) {
	for _, f := range []struct {
		version byte
		drop    int // trailing fields the format lacks
	}{{attemptV3, 1}, {attemptV2, 8}, {attemptV1, 11}} {
		a := sampleAttempt()
		a.Segment = ""
		if f.version < attemptV3 {
			a.WrapMS, a.AgentCode, a.RightParty, a.Recording, a.RecordingError, a.AMDCause, a.AMDMS = 0, "", false, "", "", "", 0
		}
		if f.version < attemptV2 {
			a.MessageError, a.Segments, a.Template = 0, 0, ""
		}
		b, _ := a.AppendBinary(nil)
		old := append([]byte(nil), b[:len(b)-f.drop]...)
		old[1] = f.version
		var got Attempt
		if err := got.UnmarshalBinary(old); err != nil {
			t.Fatalf("format %d: %v", f.version, err)
		}
		got.PromiseAmount, a.PromiseAmount = decimal.Decimal{}, decimal.Decimal{}
		if !reflect.DeepEqual(got, a) {
			t.Fatalf("format %d:\n got %+v\nwant %+v", f.version, got, a)
		}
	}
}

func TestMessageRoundTrip(t *testing.T) {
	m := Message{MessageSID: "SMx", Direction: "inbound", CampaignID: "c", AccountID: "a", Phone: "+525512345678",
		Channel: WhatsApp, Body: "¿cuánto debo?", Action: "conversation", At: time.UnixMilli(1700000000000).UTC(), NodeID: "n", Ver: 1}
	b, _ := m.AppendBinary(nil)
	var got Message
	if err := got.UnmarshalBinary(b); err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("message %+v %v", got, err)
	}
	if err := (&Message{MessageSID: "x", Channel: Voice, At: m.At}).Validate(); err == nil {
		t.Fatal("a voice message validated")
	}
}

func TestAttemptRoundTrip(t *testing.T) {
	for _, a := range []Attempt{sampleAttempt(), {AttemptID: "x", CampaignID: "c", Channel: SMS, StartedAt: time.UnixMilli(1).UTC()}} {
		b, err := a.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		var got Attempt
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		// decimal.Decimal compares by value, not representation.
		if !got.PromiseAmount.Equal(a.PromiseAmount) {
			t.Fatalf("amount %s != %s", got.PromiseAmount, a.PromiseAmount)
		}
		got.PromiseAmount, a.PromiseAmount = decimal.Decimal{}, decimal.Decimal{}
		if !reflect.DeepEqual(got, a) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, a)
		}
		for i := range b { // every truncation is an error, never a panic
			if err := new(Attempt).UnmarshalBinary(b[:i]); err == nil {
				t.Fatalf("truncated at %d: no error", i)
			}
		}
	}
}

func TestPromisePaymentRoundTrip(t *testing.T) {
	p := Promise{PromiseID: "p1", CampaignID: "c", AccountID: "a", AttemptID: "x", Channel: PromiseIVR,
		CreatedAt: time.UnixMilli(1700000000000).UTC(), DueDate: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		Amount: decimal.RequireFromString("10.5"), Currency: "COP", Status: "open", NodeID: "n", Ver: 1}
	b, _ := p.AppendBinary(nil)
	var p2 Promise
	if err := p2.UnmarshalBinary(b); err != nil || p2.PromiseID != "p1" || !p2.Amount.Equal(p.Amount) || !p2.DueDate.Equal(p.DueDate) {
		t.Fatalf("promise %+v %v", p2, err)
	}
	// The rules and dimensions of format 2; format 1 (five fields fewer,
	// one byte each when empty) reads as the defaults.
	p.GraceDays, p.KeepPercent, p.Country, p.Segment, p.AgentID = 3, 90, "CO", "late", "ag1"
	b, _ = p.AppendBinary(nil)
	if err := p2.UnmarshalBinary(b); err != nil || p2.GraceDays != 3 || p2.KeepPercent != 90 || p2.Country != "CO" ||
		p2.Segment != "late" || p2.AgentID != "ag1" {
		t.Fatalf("promise v2 %+v %v", p2, err)
	}
	p.GraceDays, p.KeepPercent, p.Country, p.Segment, p.AgentID = 0, 0, "", "", ""
	b, _ = p.AppendBinary(nil)
	v1 := append([]byte(nil), b[:len(b)-5]...)
	v1[1] = promiseV1
	var p1 Promise
	if err := p1.UnmarshalBinary(v1); err != nil || !p1.Amount.Equal(p.Amount) {
		t.Fatalf("promise v1 %+v %v", p1, err)
	}
	p1.Amount, p.Amount = decimal.Decimal{}, decimal.Decimal{}
	if !reflect.DeepEqual(p1, p) {
		t.Fatalf("promise v1:\n got %+v\nwant %+v", p1, p)
	}
	y := Payment{PaymentID: "y", AccountID: "a", PaidAt: time.UnixMilli(1700000000000).UTC(), Amount: decimal.NewFromInt(7), Currency: "CLP", Ver: 2}
	b, _ = y.AppendBinary(nil)
	var y2 Payment
	if err := y2.UnmarshalBinary(b); err != nil || y2.PaymentID != "y" || y2.Ver != 2 {
		t.Fatalf("payment %+v %v", y2, err)
	}
}

func TestAgentStateRoundTrip(t *testing.T) {
	s := AgentState{IntervalID: NewAttemptID(), AgentID: "ag1", CampaignID: "c", NodeID: "n", State: "paused", Reason: "lunch",
		StartedAt: time.Unix(1700000000, 0).UTC(), EndedAt: time.Unix(1700003600, 0).UTC(), Ver: 9}
	b, _ := s.AppendBinary(nil)
	var got AgentState
	if err := got.UnmarshalBinary(b); err != nil || !reflect.DeepEqual(got, s) {
		t.Fatalf("agent state %+v %v", got, err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	for field, bad := range map[string]AgentState{
		"state":    {IntervalID: "i", AgentID: "a", State: "logged_out", StartedAt: s.StartedAt, EndedAt: s.EndedAt},
		"ended_at": {IntervalID: "i", AgentID: "a", State: "ready", StartedAt: s.EndedAt, EndedAt: s.StartedAt},
		"agent_id": {IntervalID: "i", State: "ready", StartedAt: s.StartedAt, EndedAt: s.EndedAt},
	} {
		if err := bad.Validate(); FieldOf(err) != field {
			t.Errorf("%s: %v", field, err)
		}
	}
}

func TestSetLocalTime(t *testing.T) {
	bogota, _ := time.LoadLocation("America/Bogota")
	a := Attempt{StartedAt: time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)} // Sunday 22:00 in Bogotá
	a.SetLocalTime(bogota)
	if a.LocalHour != 22 || a.LocalWeekday != 7 {
		t.Fatalf("local %d/%d, want 22/7", a.LocalHour, a.LocalWeekday)
	}
}

func FuzzAttemptUnmarshal(f *testing.F) {
	a := sampleAttempt()
	b, _ := a.AppendBinary(nil)
	f.Add(b)
	f.Add([]byte{kindAttempt, attemptV1})
	f.Fuzz(func(t *testing.T, data []byte) {
		var a Attempt
		if a.UnmarshalBinary(data) != nil {
			return
		}
		// What decodes must re-encode to something that decodes the same.
		b, _ := a.AppendBinary(nil)
		var a2 Attempt
		if err := a2.UnmarshalBinary(b); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

// Promise records of both formats and agent state records: what decodes
// re-encodes to something that decodes the same.
func FuzzPromiseAndAgentStateUnmarshal(f *testing.F) {
	p := Promise{PromiseID: "p", CampaignID: "c", AccountID: "a", Channel: PromiseAgent, CreatedAt: time.UnixMilli(1).UTC(),
		Amount: decimal.NewFromInt(5), Currency: "MXN", Status: "open", Ver: 1, GraceDays: 3, KeepPercent: 90, Segment: "s"}
	b, _ := p.AppendBinary(nil)
	f.Add(b)
	f.Add(append([]byte{kindPromise, promiseV1}, b[2:len(b)-5]...))
	s := AgentState{IntervalID: "i", AgentID: "a", State: "ready", StartedAt: time.UnixMilli(1).UTC(), EndedAt: time.UnixMilli(2).UTC()}
	b, _ = s.AppendBinary(nil)
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Promise
		if p.UnmarshalBinary(data) == nil {
			b, _ := p.AppendBinary(nil)
			var p2 Promise
			if err := p2.UnmarshalBinary(b); err != nil || p2.GraceDays != p.GraceDays || p2.AgentID != p.AgentID {
				t.Fatalf("promise re-decode: %+v %v", p2, err)
			}
		}
		var s AgentState
		if s.UnmarshalBinary(data) == nil {
			b, _ := s.AppendBinary(nil)
			var s2 AgentState
			if err := s2.UnmarshalBinary(b); err != nil || !reflect.DeepEqual(s, s2) {
				t.Fatalf("agent state re-decode: %+v %v", s2, err)
			}
		}
	})
}
