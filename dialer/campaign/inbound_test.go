package campaign

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/sipptest"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/ivr/media/mediatest"
	"github.com/marcador/marcador/ivr/prompts"
	"github.com/marcador/marcador/ivr/script"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/redistest"
)

// loopbackTrunk admits calls from the loopback network, as one carrier: sipp,
// baresip and the test phones call from their own 127.x addresses (distinct
// SIP sources, for the per-source limits).
func loopbackTrunk() dialer.InboundPolicy {
	return dialer.InboundPolicy{Sources: []dialer.Source{{Trunk: "carrier", Prefix: netip.MustParsePrefix("127.0.0.0/8")}}}
}

// debtorCalls writes a sipp scenario in which a debtor calls us from
// [caller], their phone sending audio from the start as phones do (sipp's
// g711a.pcap), and presses keys from sipp's RFC 2833 pcaps: digits 400 ms
// apart, "/" a pause of gap. It ends when we hang up.
func debtorCalls(t *testing.T, first, gap time.Duration, keys string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="debtor_calls">
  <send retrans="500"><![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[caller]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=ptime:20
  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true"/>
  <send><![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[caller]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
  ]]></send>
`)
	b.WriteString("  <nop><action><exec play_pcap_audio=\"/usr/share/sip-tester/g711a.pcap\"/></action></nop>\n")
	fmt.Fprintf(&b, "  <pause milliseconds=\"%d\"/>\n", first.Milliseconds())
	names := map[rune]string{'#': "pound", '*': "star"}
	for _, k := range keys {
		if k == '/' {
			fmt.Fprintf(&b, "  <pause milliseconds=\"%d\"/>\n", gap.Milliseconds())
			continue
		}
		n := names[k]
		if n == "" {
			n = string(k)
		}
		fmt.Fprintf(&b, "  <nop><action><exec play_pcap_audio=\"/usr/share/sip-tester/dtmf_2833_%s.pcap\"/></action></nop>\n", n)
		b.WriteString("  <pause milliseconds=\"400\"/>\n")
	}
	b.WriteString(`  <recv request="BYE" timeout="60000"/>
  <send><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
  ]]></send>
</scenario>
`)
	path := filepath.Join(t.TempDir(), "debtor_calls.xml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// heardBeforeFirstKey measures the audio sent to phone (an RTP address)
// until phone sent its first RFC 4733 key, from a capture.
func heardBeforeFirstKey(dgs []sipptest.Datagram, phone netip.AddrPort) mediatest.Speech {
	var m mediatest.Meter
	var pkt rtp.Packet
	for _, d := range dgs {
		if (d.Src != phone && d.Dst != phone) || pkt.Unmarshal(d.Payload) != nil || pkt.Version != 2 {
			continue
		}
		switch {
		case d.Src == phone && pkt.PayloadType == media.DefaultDTMFPayloadType:
			return m.Speech()
		case d.Dst == phone && pkt.PayloadType == media.PCMA.PayloadType:
			m.Add(media.PCMA.Decode(nil, pkt.Payload))
		case d.Dst == phone && pkt.PayloadType == media.PCMU.PayloadType:
			m.Add(media.PCMU.Decode(nil, pkt.Payload))
		}
	}
	return m.Speech()
}

// Debtors call the callback line from sipp, a real independent SIP stack,
// keying with RFC 2833 pcaps: one known by caller id proves who they are
// and promises the full balance in a week; one calling from an unknown
// number keys the answer and their national id, and opts out; one nobody
// can identify fails three times and asks for a call back.
//
// Not parallel: sipp keys at fixed times after the answer, whatever the
// line says, so it runs before this package's parallel tests start.
func TestInboundCallbackOverSipp(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	id := redistest.CampaignID(t, h.rdb)
	c := queue.Campaign{ID: id, Mode: queue.ModeIVR, Country: "MX", TimeZone: "America/Mexico_City", Profile: "MX", Trunk: "sim",
		Script: "reminder-overdue", Language: "es", Promise: queue.PromisePolicy{MaxDays: 15}}
	if _, err := h.store.PutCampaign(ctx, c, time.Now()); err != nil {
		t.Fatal(err)
	}
	run := time.Now().UnixNano() % 1e8
	known := queue.Account{ID: "IN-1", NationalID: fmt.Sprintf("8%08d", run), Country: "MX", Phones: []queue.Phone{{Number: fmt.Sprintf("+5255%08d", run)}},
		Balance: decimal.RequireFromString("1250.50"), Currency: "MXN", DueDate: "2026-11-01", DaysPastDue: 23, Segment: "late"}
	keyed := queue.Account{ID: "IN-2", NationalID: fmt.Sprintf("9%08d", run), Country: "MX",
		Phones: []queue.Phone{{Number: fmt.Sprintf("+5281%08d", run)}}, Balance: decimal.NewFromInt(800), Currency: "MXN", DueDate: "2026-11-10"}
	accts := []queue.Account{known, keyed}
	if _, err := h.store.Load(ctx, id, accts, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	h.fresh(ctx, accts)
	scripts, _ := script.Shipped()
	var r *Runner
	ready := make(chan struct{})
	ep, err := dialer.NewEndpoint(dialer.EndpointOptions{Listen: "127.0.0.1:0", RTPPorts: media.PortRange{Min: 46000, Max: 46999},
		OnInvite: func(in *dialer.Inbound) { <-ready; r.Inbound(in) }, Inbound: loopbackTrunk()})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	r = New(Options{Store: h.store, Gate: h.gate, Endpoint: ep, Writer: h.w, Scripts: scripts, Library: prompts.NewLibrary(""),
		Node: "e2e", Inbound: InboundOptions{Numbers: []string{"8005550100"}, Country: "MX", Campaign: id + "-inbound"}})
	defer r.Close()
	close(ready)

	last4 := func(a queue.Account) string { return a.NationalID[len(a.NationalID)-4:] }
	calls := []struct {
		caller, keys, path string
	}{
		// Known by caller id (in national format; sorts first once in
		// E.164): the last four digits of the national id, the balance,
		// 1 promise, 1 full balance, 2 in a week.
		{"55" + fmt.Sprintf("%08d", run), last4(known) + "/1/1/2",
			"welcome>verify>balance>menu>promise-how>full-balance>when>in-a-week>record>promise-ok>goodbye>end"},
		// Unknown number: the answer, then the national id; the balance, 9 opts out.
		{"+5255" + fmt.Sprintf("%08d", run+1), last4(keyed) + "/" + keyed.NationalID + "#/9",
			"welcome>verify>balance>menu>optout>optout-done>goodbye>end"},
		// An answer and an id nobody has, three times; 4 asks for a call back.
		{"+5255" + fmt.Sprintf("%08d", run+2), "1234/5678#/1234/5678#/1234/5678#/4",
			"welcome>verify>not-verified>help>help-callback>callback-said>goodbye>end"},
	}
	// sipp calls from a loopback address of its own: failed identifications
	// are counted per source across runs.
	src := fmt.Sprintf("127.%d.%d.%d", 1+run%250, run/250%256, 2+run/64000%250)
	// What reaches the debtors' phones is captured: sipp keeps no audio.
	capture, capErr := sipptest.StartCapture(t, "udp and host "+src)
	if capErr != nil {
		t.Logf("not checking what the callers heard: %v", capErr)
	}
	var sipps []*sipptest.Sipp
	for _, call := range calls {
		sipps = append(sipps, sipptest.Start(t, debtorCalls(t, 2500*time.Millisecond, 3*time.Second, call.keys), 1,
			ep.Addr(), "-i", src, "-mi", src, "-s", "8005550100", "-key", "caller", call.caller))
	}
	for _, s := range sipps {
		s.Wait(t)
	}
	r.Wait()
	if capture != nil {
		dgs, err := capture.Stop()
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range sipps {
			phone := netip.AddrPortFrom(netip.MustParseAddr(src), uint16(s.MediaPort))
			if heard := heardBeforeFirstKey(dgs, phone); !heard.IsSpeech(time.Second) {
				t.Errorf("call %d: the caller keyed after hearing %s, want a second of speech", i, heard)
			}
		}
	}
	if err := h.w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	type row struct{ phone, campaign, account, disp, path, dtmf, promise string }
	var got []row
	rows, err := h.conn.Query(ctx, "SELECT phone, campaign_id, account_id, disposition, ivr_path, dtmf, toString(promise_amount) FROM "+h.db+
		".contact_attempts FINAL WHERE trunk = 'inbound' ORDER BY phone, disposition DESC")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var x row
		rows.Scan(&x.phone, &x.campaign, &x.account, &x.disp, &x.path, &x.dtmf, &x.promise)
		got = append(got, x)
	}
	rows.Close()
	// Three calls and the last one's three failed identifications.
	if len(got) != len(calls)+3 {
		t.Fatalf("%d inbound attempts in ClickHouse, want %d: %+v", len(got), len(calls)+3, got)
	}
	for _, g := range got[3:] {
		if g.disp != analytics.IdentityFailed || g.account != "" || g.campaign != id+"-inbound" {
			t.Errorf("identity failure row %+v", g)
		}
	}
	want := []struct{ campaign, account, promise string }{{id, "IN-1", "1250.50"}, {id, "IN-2", "0.00"}, {id + "-inbound", "", "0.00"}}
	for i, g := range got[:3] {
		if g.disp != analytics.Inbound || g.path != calls[i].path || g.campaign != want[i].campaign || g.account != want[i].account ||
			g.promise != want[i].promise {
			t.Errorf("call %d: %+v, want path %s and %+v", i, g, calls[i].path, want[i])
		}
		// What the caller keyed to prove who they are is not in the log.
		if strings.Contains(g.dtmf, "1234") || strings.Contains(g.dtmf, last4(known)) || strings.Contains(g.dtmf, keyed.NationalID) {
			t.Errorf("call %d: dtmf %q holds an answer", i, g.dtmf)
		}
	}
	var n uint64
	if err := h.conn.QueryRow(ctx, "SELECT count() FROM "+h.db+".promises FINAL WHERE campaign_id = ? AND account_id = 'IN-1' AND toString(amount) = '1250.50'", id).Scan(&n); err != nil || n != 1 {
		t.Errorf("promise rows %d %v", n, err)
	}
	// The verified callers are right-party contacts; the one never verified is not.
	var rpc []string
	rrows, err := h.conn.Query(ctx, "SELECT account_id FROM "+h.db+".contact_attempts FINAL WHERE disposition = 'inbound' AND right_party = 1 ORDER BY account_id")
	if err != nil {
		t.Fatal(err)
	}
	for rrows.Next() {
		var a string
		rrows.Scan(&a)
		rpc = append(rpc, a)
	}
	rrows.Close()
	if strings.Join(rpc, ",") != "IN-1,IN-2" {
		t.Errorf("inbound calls marked right party: %q, want IN-1 and IN-2", rpc)
	}
	// The account's segment is on its attempt and its promise, with the
	// campaign's promise rules and the debtor's country.
	var aseg, pseg, country string
	var grace, keep uint8
	if err := h.conn.QueryRow(ctx, "SELECT segment FROM "+h.db+".contact_attempts FINAL WHERE account_id = 'IN-1' AND disposition = 'inbound'").
		Scan(&aseg); err != nil || aseg != "late" {
		t.Errorf("IN-1's attempt segment %q %v, want late", aseg, err)
	}
	if err := h.conn.QueryRow(ctx, "SELECT segment, country, grace_days, keep_percent FROM "+h.db+".promises FINAL WHERE account_id = 'IN-1'").
		Scan(&pseg, &country, &grace, &keep); err != nil || pseg != "late" || country != "MX" || grace != 2 || keep != 100 {
		t.Errorf("IN-1's promise: segment %q country %q grace %d keep %d %v", pseg, country, grace, keep, err)
	}
	// The promise and the verified opt-out end the outbound work; the
	// opt-out lists the number calling and the account's phone.
	if cnt, _ := h.store.Counts(ctx, id, time.Now().Add(2*time.Hour)); cnt.Done != 2 || cnt.Due != 0 {
		t.Errorf("queue after inbound calls: %+v", cnt)
	}
	for _, n := range []string{calls[1].caller, keyed.Phones[0].Number} {
		if _, listed, _ := h.gate.LookupDNC(ctx, n, analytics.Voice, id); !listed {
			t.Errorf("inbound opt-out: %s not listed", n)
		}
	}
}
