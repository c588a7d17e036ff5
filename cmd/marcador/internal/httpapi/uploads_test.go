package httpapi

import (
	"net/http"
	"strings"
	"testing"
)

// A CSV whose quote is left open is refused whole with the line, instead of
// loading the rows before it and silently dropping every row after it.
func TestCSVUploadUnterminatedQuoteNamesTheLine(t *testing.T) {
	f := newFixture(t)
	f.createCampaign(t)
	csv := "account_id,name,phone1,balance\n" +
		"Q1,Ana,55 1234 5678,100\n" +
		"Q2,\"Bob,55 1234 5679,100\n" +
		"Q3,Carl,55 1234 5670,100\n"
	var e map[string]string
	if code := f.do(t, "POST", "/api/v1/campaigns/"+f.id+"/contacts", "text/csv", csv, true, &e); code != http.StatusBadRequest ||
		!strings.Contains(e["error"], "line 3") {
		t.Fatalf("upload: %d %v", code, e)
	}
	var v CampaignView
	f.do(t, "GET", "/api/v1/campaigns/"+f.id, "", "", true, &v)
	if v.Queue.Accounts != 0 {
		t.Fatalf("loaded %d accounts from a refused upload", v.Queue.Accounts)
	}
	// Money, currency, dates and names are checked with the field named.
	csv = "account_id,name,phone1,balance,currency,due_date\n" +
		"V1,Ana\u202e,55 1234 5678,1e20,MXN,2026-11-01\n" +
		"V2,Bob,55 1234 5679,100,$$$,2026-11-01\n" +
		"V3,Carl,55 1234 5670,100,MXN,0001-01-01\n" +
		"V4,Dan\x00,55 1234 5671,100,,2026-11-01\n"
	var res UploadResult
	if code := f.do(t, "POST", "/api/v1/campaigns/"+f.id+"/contacts", "text/csv", csv, true, &res); code != http.StatusOK ||
		res.Loaded.Inserted != 1 || len(res.Errors) != 3 || res.Errors[0].Field != "balance" || res.Errors[1].Field != "currency" ||
		res.Errors[2].Field != "due_date" {
		t.Fatalf("upload: %d %+v", code, res)
	}
	a, err := f.store.Account(t.Context(), f.id, "V4")
	if err != nil || a.Name != "Dan" || a.Currency != "MXN" {
		t.Fatalf("V4 = %+v %v", a, err)
	}
}
