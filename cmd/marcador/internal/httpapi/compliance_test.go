package httpapi

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/queue/compliance"
)

func TestExplainEndpoint(t *testing.T) {
	f := newFixture(t)
	var e compliance.Explanation
	code := f.do(t, "GET", "/api/v1/compliance/explain?profile=CO&phone=%2B573001234567&at=2026-12-08T10:00:00-05:00&channel=voice", "", "", true, &e)
	if code != 200 || e.Allowed || e.Rule != "holiday" || e.NextAllowed != "2026-12-09T07:00:00-05:00" || e.LocalTime != "2026-12-08T10:00:00-05:00" {
		t.Fatalf("%d %+v", code, e)
	}
	var bad map[string]string
	if code := f.do(t, "GET", "/api/v1/compliance/explain?profile=CO&phone=%2B573001234567&at=tomorrow", "", "", true, &bad); code != 400 {
		t.Fatalf("bad at: %d %v", code, bad)
	}
	if code := f.do(t, "GET", "/api/v1/compliance/explain?profile=XX&phone=%2B573001234567", "", "", true, &bad); code != 400 {
		t.Fatalf("unknown profile: %d %v", code, bad)
	}
	if code := f.do(t, "GET", "/api/v1/compliance/explain?profile=CO&phone=%2B573001234567", "", "", false, nil); code != 401 {
		t.Fatalf("no token: %d", code)
	}
}

func TestDNCImportListsGoodRowsAndReportsBad(t *testing.T) {
	f := newFixture(t)
	f.createCampaign(t)
	num := fmt.Sprintf("+5730012%05d", time.Now().UnixNano()%100000)
	csv := "phone,country,channel,campaign,reason\n" + num + ",,voice,,debtor asked\n" +
		"300 555 0101,CO,sms," + f.id + ",STOP\n" + "12,CO,voice,,\n" + num + ",,fax,,\n"
	var res DNCResult
	if code := f.do(t, "POST", "/api/v1/dnc", "text/csv", csv, true, &res); code != 200 || res.Listed != 2 || res.Rejected != 2 ||
		res.Errors[0].Row != 3 || res.Errors[1].Row != 4 {
		t.Fatalf("%d %+v", code, res)
	}
	var e compliance.Explanation
	f.do(t, "GET", "/api/v1/compliance/explain?profile=MX&phone="+"%2B"+num[1:]+"&at=2026-11-24T12:00:00-05:00", "", "", true, &e)
	if e.Allowed || e.Rule != "dnc" {
		t.Fatalf("listed number explained as %+v", e)
	}
	var listed struct {
		Listed map[string]*compliance.DNCEntry `json:"listed"`
	}
	f.do(t, "GET", "/api/v1/dnc/%2B"+num[1:], "", "", true, &listed)
	if listed.Listed["voice"] == nil || listed.Listed["voice"].Reason != "debtor asked" || listed.Listed["sms"] != nil {
		t.Fatalf("listing %+v", listed)
	}
	if code := f.do(t, "DELETE", "/api/v1/dnc/%2B"+num[1:]+"?channel=all", "", "", true, nil); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	f.do(t, "GET", "/api/v1/dnc/%2B"+num[1:], "", "", true, &listed)
	if listed.Listed["voice"] != nil {
		t.Fatalf("still listed %+v", listed)
	}
	var js DNCResult
	if code := f.do(t, "POST", "/api/v1/dnc", "application/json", `{"entries":[{"phone":"`+num+`","channel":"whatsapp"}]}`, true, &js); code != 200 || js.Listed != 1 {
		t.Fatalf("json: %d %+v", code, js)
	}
	f.do(t, "DELETE", "/api/v1/dnc/%2B"+num[1:], "", "", true, nil)
	f.do(t, "DELETE", "/api/v1/dnc/%2B573005550101?campaign="+f.id, "", "", true, nil)
	if code := f.do(t, "POST", "/api/v1/dnc", "application/json", `{"entries":[{"phone":"1"}]}`, true, &js); code != 422 {
		t.Fatalf("all bad: %d", code)
	}
}

func FuzzParseDNCCSV(f *testing.F) {
	f.Add("phone,channel\n+573001234567,voice\n")
	f.Add("\ufeffPhone;Channel\n\"x\n")
	f.Add("channel\nvoice\n")
	f.Fuzz(func(t *testing.T, body string) {
		rows, err := parseDNCCSV(strings.NewReader(body))
		if err != nil && rows != nil {
			t.Fatalf("rows and an error: %v", err)
		}
	})
}

// One bad line in a DNC file is that row's error, not the file's; a row
// naming a campaign that does not exist is refused; national numbers take
// the row's country, else the campaign's.
func TestDNCImportReportsBadLinesAndUnknownCampaigns(t *testing.T) {
	f := newFixture(t)
	f.createCampaign(t) // MX
	ctx := context.Background()
	base := time.Now().UnixNano() % 1e6
	n := func(i int) string { return fmt.Sprintf("55%06d%02d", base, i) } // Mexico City, national
	e164 := func(i int) string { return "+52" + n(i) }
	for i := range 6 {
		f.gate.RemoveDNC(ctx, compliance.DNCEntry{Phone: e164(i), Channel: "all"})
		f.gate.RemoveDNC(ctx, compliance.DNCEntry{Phone: e164(i), Channel: "all", Campaign: f.id})
	}
	csv := "phone,country,channel,campaign,reason\n" +
		n(0) + ",MX,voice,,asked\n" +
		"\"" + n(1) + ",MX,voice,,unterminated quote\n" + // line 3: its own error only
		n(2) + ",MX,vo\"ice,,bare quote\n" + // line 4
		"\n" + // blank lines are skipped
		n(3) + ",,sms," + f.id + ",national in the campaign's country\n" +
		n(4) + ",MX,voice,nope-" + f.id + ",no such campaign\n" +
		n(5) + ",MX,voice,bad{id},not an id\n" +
		"\"" + e164(5) + "\",,\"all\",,\"quoted, with a comma\"\n"
	var res DNCResult
	if code := f.do(t, "POST", "/api/v1/dnc", "text/csv", csv, true, &res); code != 200 {
		t.Fatalf("%d %+v", code, res)
	}
	want := map[int]string{2: "line 3:", 3: "line 4:", 5: "nope-" + f.id + ": not found", 6: "invalid id"}
	if res.Received != 7 || res.Listed != 3 || res.Rejected != 4 {
		t.Fatalf("%+v", res)
	}
	for _, e := range res.Errors {
		if w, ok := want[e.Row]; !ok || !strings.Contains(e.Reason, w) || e.Line == 0 {
			t.Errorf("error %+v, want row %d: %q", e, e.Row, w)
		}
	}
	for i, listed := range []bool{true, false, false, true, false, true} {
		_, ok, err := f.gate.LookupDNC(ctx, e164(i), analytics.SMS, f.id)
		if err != nil || (ok != (listed && i != 0)) {
			t.Errorf("%s listed for sms: %v %v", e164(i), ok, err)
		}
	}
	if _, ok, _ := f.gate.LookupDNC(ctx, e164(0), analytics.Voice, ""); !ok {
		t.Errorf("the line before the bad ones was not listed")
	}
	// JSON: a campaign that does not exist is that entry's error.
	var js DNCResult
	body := `{"entries":[{"phone":"` + e164(4) + `","channel":"voice","campaign":"nope-` + f.id + `"},{"phone":"` + n(4) + `","channel":"voice","campaign":"` + f.id + `"}]}`
	if code := f.do(t, "POST", "/api/v1/dnc", "application/json", body, true, &js); code != 200 || js.Listed != 1 || js.Rejected != 1 ||
		js.Errors[0].Row != 1 || !strings.Contains(js.Errors[0].Reason, "not found") {
		t.Fatalf("json: %d %+v", code, js)
	}
	if code := f.do(t, "POST", "/api/v1/dnc", "application/json", `{"entries":[]} x`, true, nil); code != 400 {
		t.Fatalf("trailing garbage: %d", code)
	}
}

// Lookups and deletes read the number the way imports do: ?country= or the
// campaign's country for national formats; 404 when not listed, 400 for
// what is not a number.
func TestDNCLookupAndDeleteNormalise(t *testing.T) {
	f := newFixture(t)
	f.createCampaign(t) // MX
	ctx := context.Background()
	nat := fmt.Sprintf("55%08d", time.Now().UnixNano()%1e8)
	num := "+52" + nat
	f.gate.RemoveDNC(ctx, compliance.DNCEntry{Phone: num, Channel: "all"})
	if err := f.gate.AddDNC(ctx, compliance.DNCEntry{Phone: num, Channel: "voice", Reason: "asked"}); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Phone  string                          `json:"phone"`
		Listed map[string]*compliance.DNCEntry `json:"listed"`
	}
	for _, path := range []string{"/api/v1/dnc/" + nat + "?country=MX", "/api/v1/dnc/" + nat + "?country=mx",
		"/api/v1/dnc/" + nat + "?campaign=" + f.id, "/api/v1/dnc/%2B52%20" + nat, "/api/v1/dnc/0052" + nat} {
		got.Listed = nil
		if code := f.do(t, "GET", path, "", "", true, &got); code != 200 || got.Phone != num || got.Listed["voice"] == nil {
			t.Errorf("GET %s: %d %+v", path, code, got)
		}
	}
	for path, want := range map[string]int{
		"/api/v1/dnc/" + nat:                         400, // national, no country
		"/api/v1/dnc/garbage?country=MX":             400,
		"/api/v1/dnc/12?country=MX":                  400,
		"/api/v1/dnc/" + nat + "?campaign=nope-x":    404,
		"/api/v1/dnc/" + nat + "?campaign=bad%7Bid":  400,
		"/api/v1/dnc/" + nat + "?country=MX&channel": 200,
	} {
		var e map[string]any
		if code := f.do(t, "GET", path, "", "", true, &e); code != want {
			t.Errorf("GET %s: %d %v, want %d", path, code, e, want)
		}
	}
	for _, c := range []struct {
		path string
		want int
	}{
		{"/api/v1/dnc/garbage?country=MX", 400},
		{"/api/v1/dnc/" + nat + "?country=MX&channel=fax", 400},
		{"/api/v1/dnc/" + nat + "?country=MX&channel=sms", 404},            // listed for voice only
		{"/api/v1/dnc/" + nat + "?campaign=" + f.id + "&channel=all", 404}, // listed globally, not in the campaign
		{"/api/v1/dnc/" + nat + "?country=MX&channel=all", 204},
		{"/api/v1/dnc/" + nat + "?country=MX&channel=all", 404}, // gone now
	} {
		var e map[string]any
		code := f.do(t, "DELETE", c.path, "", "", true, nil)
		if code != c.want {
			t.Errorf("DELETE %s: %d %v, want %d", c.path, code, e, c.want)
		}
	}
	if _, ok, _ := f.gate.LookupDNC(ctx, num, analytics.Voice, ""); ok {
		t.Fatal("still listed after 204")
	}
}
