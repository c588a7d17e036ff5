package httpapi

import (
	"fmt"
	"strings"
	"testing"
	"time"

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
