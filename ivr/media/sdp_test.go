package media

import (
	"net/netip"
	"strings"
	"testing"
)

func TestOfferAnswerRoundTrip(t *testing.T) {
	b, err := MarshalSDP(OfferOptions{Addr: netip.MustParseAddrPort("127.0.0.1:20000"), Codecs: []Codec{PCMA, PCMU}, SessionID: 7, Version: 1})
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{"m=audio 20000 RTP/AVP 8 0 101", "a=rtpmap:8 PCMA/8000", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16", "a=ptime:20", "a=sendrecv", "c=IN IP4 127.0.0.1"} {
		if !strings.Contains(s, want) {
			t.Errorf("offer lacks %q:\n%s", want, s)
		}
	}
	e, err := ParseSDP(b)
	if err != nil {
		t.Fatal(err)
	}
	if e.Addr.String() != "127.0.0.1:20000" || e.Codec != PCMA || len(e.Codecs) != 2 || e.DTMFType != 101 || e.Direction != SendRecv {
		t.Fatalf("parsed %+v", e)
	}
	c, err := Negotiate([]Codec{PCMU, PCMA}, e.Codecs)
	if err != nil || c != PCMU {
		t.Fatalf("negotiate %v %v", c, err)
	}
	if _, err := Negotiate([]Codec{PCMU}, []Codec{PCMA}); err == nil {
		t.Fatal("no common codec accepted")
	}
}

// An SDP as sipp and many carriers write it: static types without rtpmap,
// media-level c=, hold by sendonly, then by c=0.0.0.0.
func TestParseCarrierStyle(t *testing.T) {
	body := "v=0\r\no=user1 53655765 2353687637 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n" +
		"m=video 0 RTP/AVP 31\r\n" +
		"m=audio 6000 RTP/AVP 0 18 101\r\nc=IN IP4 127.0.0.2\r\na=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n"
	e, err := ParseSDP([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if e.Addr.String() != "127.0.0.2:6000" || e.Codec != PCMU || len(e.Codecs) != 1 || e.DTMFType != 101 || e.Direction != SendOnly {
		t.Fatalf("parsed %+v", e)
	}
	hold := strings.Replace(strings.Replace(body, "127.0.0.2", "0.0.0.0", 1), "a=sendonly\r\n", "", 1)
	if e, _ := ParseSDP([]byte(hold)); e.Direction != Inactive {
		t.Fatalf("c=0.0.0.0 hold: %+v", e)
	}
	for _, bad := range []string{"", "garbage", "v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n"} {
		if _, err := ParseSDP([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func FuzzParseSDP(f *testing.F) {
	b, _ := MarshalSDP(OfferOptions{Addr: netip.MustParseAddrPort("127.0.0.1:20000")})
	f.Add(b)
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0 101\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := ParseSDP(body)
		if err != nil {
			return
		}
		if !e.Addr.IsValid() || e.Addr.Port() == 0 {
			t.Fatalf("accepted an SDP without a usable address: %+v", e)
		}
	})
}

// a=ssrc (RFC 5576) round-trips: a shared socket's peers tell streams
// apart by it. Absent, or not a number, it is 0.
func TestSDPAnnouncesSSRC(t *testing.T) {
	b, err := MarshalSDP(OfferOptions{Addr: netip.MustParseAddrPort("127.0.0.1:20000"), SSRC: 4000000001})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "a=ssrc:4000000001 cname:marcador") {
		t.Fatalf("no a=ssrc:\n%s", b)
	}
	if e, err := ParseSDP(b); err != nil || e.SSRC != 4000000001 {
		t.Fatalf("parsed %+v %v", e, err)
	}
	for _, attr := range []string{"", "a=ssrc:x cname:y\r\n", "a=ssrc:99999999999 cname:y\r\n"} {
		body := "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n" + attr
		if e, err := ParseSDP([]byte(body)); err != nil || e.SSRC != 0 {
			t.Fatalf("%q: parsed %+v %v", attr, e, err)
		}
	}
}
