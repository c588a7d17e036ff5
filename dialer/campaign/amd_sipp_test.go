package campaign

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/sipptest"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/queue"
)

// sippAnswer answers with PCMU (the INVITE's action the first %s), then
// does the second (the rest of the scenario).
const sippAnswer = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="answer_amd">
  <recv request="INVITE" crlf="true">%s</recv>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=sipp 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=ptime:20
]]></send>
  <recv request="ACK" crlf="true"/>
%s
</scenario>
`

// sippPlay plays the pcap %s (a recorded greeting) and waits for our BYE.
const sippPlay = `  <nop><action><exec play_pcap_audio="%s"/></action></nop>
  <recv request="BYE" timeout="60000"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>`

// sippCaller keeps the caller and its contact for a BYE of ours (sipp
// refuses variables a scenario does not use).
const sippCaller = `<action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="caller"/>
      <ereg regexp="sip:[^>]*" search_in="hdr" header="Contact:" assign_to="contact"/>
    </action>`

// sippHangUp sends no audio at all and hangs up after a second.
const sippHangUp = `  <pause milliseconds="1000"/>
  <send retrans="500"><![CDATA[
BYE [$contact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]
To: [$caller]
[last_Call-ID:]
CSeq: 2 BYE
Contact: <sip:sipp@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200"/>`

// sipp (an independent SIP stack) answers and plays a voicemail greeting
// from the corpus, made into a pcap here: the campaign's AMD calls it a
// machine and hangs up at the decision.
func TestAMDSippGreetingPcapIsAMachine(t *testing.T) {
	t.Parallel()
	audio := amdCorpus(t)
	greeting := audio.Machine[audio.direct[0]]
	pcap := filepath.Join(t.TempDir(), "greeting.pcap")
	if err := sipptest.WriteAudioPcap(pcap, media.PCMU, greeting.Samples); err != nil {
		t.Fatal(err)
	}
	g := amdSippCall(t, "", fmt.Sprintf(sippPlay, pcap))
	t.Logf("%s: %+v", greeting.Name, g)
	if g.disposition != "machine" || g.amd != "machine" || g.cause == "" || g.ms == 0 {
		t.Errorf("sipp's greeting: %+v, want a machine", g)
	}
}

// A debtor's line that sends no RTP at all and hangs up after a second:
// the detector's audio time keeps up with the clock (silence fed for the
// missing packets), and the call ends undecided: amd hangup.
func TestAMDSippHangsUpDuringDetection(t *testing.T) {
	t.Parallel()
	g := amdSippCall(t, sippCaller, sippHangUp)
	if g.disposition != "answered" || g.amd != "hangup" || g.cause != "hangup" || g.ms < 500 || g.ms > 3000 ||
		g.reason != "hung up during answering-machine detection" {
		t.Errorf("%+v, want answered, amd hangup after about a second", g)
	}
}

// amdSippCall runs an IVR campaign with AMD (on_machine hangup) of one
// account whose call sipp answers (with action on the INVITE) then runs
// rest of its scenario, and returns the attempt's row.
func amdSippCall(t *testing.T, action, rest string) amdRow {
	t.Helper()
	scenario := filepath.Join(t.TempDir(), "amd.xml")
	if err := os.WriteFile(scenario, []byte(fmt.Sprintf(sippAnswer, action, rest)), 0o644); err != nil {
		t.Fatal(err)
	}
	s := sipptest.Start(t, scenario, 1)
	ctx := context.Background()
	h := newHarness(t)
	ep, err := dialer.NewEndpoint(dialer.EndpointOptions{Listen: "127.0.0.1:0", RTPPorts: media.PortRange{Min: 46400, Max: 46499}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ep.Close() })
	trunk, err := dialer.NewTrunk(dialer.TrunkConfig{Name: "sim", URI: fmt.Sprintf("sip:127.0.0.1:%d", s.Port), CallerID: "+525550000100",
		CPS: 10, MaxChannels: 2})
	if err != nil {
		t.Fatal(err)
	}
	id := h.putIVRCampaign(t, ctx, func(c *queue.Campaign) { c.AMD = &queue.AMD{} })
	acct := queue.Account{ID: "S1", NationalID: fmt.Sprint("sipp-", time.Now().UnixNano()), Country: "MX",
		Phones: []queue.Phone{{Number: number()}}, Balance: decimal.NewFromInt(1000), Currency: "MXN"}
	h.load(t, ctx, id, []queue.Account{acct})
	r := New(h.runnerOptions(&simLine{ep: ep, trunk: trunk}, "amd-sipp"))
	defer r.Close()
	if err := r.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	h.settleOne(t, ctx, r, id)
	s.Wait(t) // sipp's scenario ended well
	if err := h.w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return h.amdRows(t, ctx, id)["S1"]
}
