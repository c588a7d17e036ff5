package importer

import (
	"strings"
	"testing"
	"time"
)

var opt = Options{Country: "MX", DefaultTimeZone: "America/Mexico_City", Currency: "MXN", Now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}

func TestParseAmount(t *testing.T) {
	for in, want := range map[string]string{
		"1250.50": "1250.5", "1,250.50": "1250.5", "1.250,50": "1250.5", "1250,50": "1250.5", "1.250.000": "1250000",
		"1,250": "1250", "$ 1,250": "1250", "12.5": "12.5", "0": "0", "1 250 000": "1250000",
	} {
		got, err := parseAmount(in)
		if err != nil || got.String() != want {
			t.Errorf("parseAmount(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"abc", "", "1.2.3,4,5x"} {
		if _, err := parseAmount(bad); err == nil {
			t.Errorf("parseAmount(%q) accepted", bad)
		}
	}
}

func TestCSVGoodRows(t *testing.T) {
	in := "\xEF\xBB\xBFAccount_ID;Nombre Cliente;Phone1;phone2;Balance;due_date;Country;segment\n" +
		"C1;Valentina Gómez;300 123 4567;;1.250.000,00;01/11/2026;CO;early\n" +
		"M1;Ana López;55 1234 5678;33 1234 5678;1250,50;2026-12-24;;\n"
	res, err := ParseCSV(strings.NewReader(in), opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) != 0 || len(res.Accounts) != 2 {
		t.Fatalf("errors %v accounts %d", res.Errors, len(res.Accounts))
	}
	c := res.Accounts[0]
	if c.ID != "C1" || c.Country != "CO" || c.Phones[0].Number != "+573001234567" || c.Balance.String() != "1250000" ||
		c.DueDate != "2026-11-01" || c.DaysPastDue != 22 || c.Phones[0].TimeZones[0] != "America/Bogota" || c.Fields["nombre_cliente"] != "Valentina Gómez" {
		t.Fatalf("C1 = %+v", c)
	}
	m := res.Accounts[1]
	if m.Country != "MX" || m.Currency != "MXN" || len(m.Phones) != 2 || m.Phones[1].Number != "+523312345678" || m.DaysPastDue != 0 || m.Balance.String() != "1250.5" {
		t.Fatalf("M1 = %+v", m)
	}
}

func TestCSVBadRowsReportedRestLoaded(t *testing.T) {
	in := "account_id,name,phone,balance,due_date,days_past_due,time_zone\n" +
		"G1,Good,55 1234 5678,10,2026-11-01,,\n" + // 1
		"B2,Bad phone,123,10,,,\n" + // 2
		",No id,55 1234 5678,10,,,\n" + // 3
		"B4,Bad date,55 1234 5678,10,2026-02-30,,\n" + // 4
		"B5,Few,columns\n" + // 5
		"B6,Bad \xff bytes,55 1234 5678,10,,,\n" + // 6
		"B7,Neg,55 1234 5678,-5,,,\n" + // 7
		"B8,Bad dpd,55 1234 5678,5,,many,\n" + // 8
		"B9,Bad tz,55 1234 5678,5,,,Mars/Olympus\n" + // 9
		"G1,Dup,55 1234 5678,5,,,\n" + // 10
		"G11,Good with tz,55 1234 5678,5,,3,America/Tijuana\n" // 11
	res, err := ParseCSV(strings.NewReader(in), opt)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]string{2: "phone1", 3: "account_id", 4: "due_date", 5: "columns", 6: "UTF-8", 7: "negative", 8: "days_past_due", 9: "time_zone", 10: "duplicate"}
	got := map[int]string{}
	for _, e := range res.Errors {
		got[e.Row] = e.Error()
	}
	for row, frag := range want {
		if !strings.Contains(got[row], frag) {
			t.Errorf("row %d: error %q, want mention of %q", row, got[row], frag)
		}
	}
	if len(res.Errors) != len(want) || len(res.Accounts) != 2 {
		t.Fatalf("errors %d accounts %d: %v", len(res.Errors), len(res.Accounts), res.Errors)
	}
	if a := res.Accounts[1]; a.TimeZone != "America/Tijuana" || a.Phones[0].TimeZones[0] != "America/Tijuana" || a.DaysPastDue != 3 {
		t.Fatalf("G11 = %+v", a)
	}
}

func TestCSVHeaderErrors(t *testing.T) {
	for in, frag := range map[string]string{
		"":                "empty",
		"name,phone\nx,1": "account_id",
		"id,name\n1,x":    "phone",
	} {
		if _, err := ParseCSV(strings.NewReader(in), opt); err == nil || !strings.Contains(err.Error(), frag) {
			t.Errorf("%q: err %v, want %q", in, err, frag)
		}
	}
}

func TestJSONShapes(t *testing.T) {
	arr := `[{"id":"J1","phones":["55 1234 5678","+52 33 1234 5678"],"balance":1250.5,"fields":{"product":"tarjeta"},"branch":"Norte"},
	         {"account_id":"J2","phone":"55 1234 5679","balance":"abc"},
	         17,
	         {"account_id":"J4","phone":"55 1234 5670","due_date":"24/12/2026"}]`
	res, err := ParseJSON(strings.NewReader(arr), opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Accounts) != 2 || len(res.Errors) != 2 || res.Errors[0].Row != 2 || res.Errors[1].Row != 3 {
		t.Fatalf("accounts %d errors %v", len(res.Accounts), res.Errors)
	}
	j1 := res.Accounts[0]
	if len(j1.Phones) != 2 || j1.Fields["product"] != "tarjeta" || j1.Fields["branch"] != "Norte" || j1.Balance.String() != "1250.5" {
		t.Fatalf("J1 = %+v", j1)
	}
	res, err = ParseJSON(strings.NewReader(`{"contacts":[{"id":"W","phone":"5512345678"}]}`), opt)
	if err != nil || len(res.Accounts) != 1 {
		t.Fatalf("wrapped: %v %+v", err, res)
	}
	for _, bad := range []string{`{`, `{"x":1}`, `"s"`} {
		if _, err := ParseJSON(strings.NewReader(bad), opt); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func checkResult(t *testing.T, res Result) {
	for _, a := range res.Accounts {
		if err := a.Validate(); err != nil {
			t.Fatalf("produced invalid account: %v", err)
		}
	}
	for _, e := range res.Errors {
		if e.Row < 1 || e.Reason == "" {
			t.Fatalf("bad RowError %+v", e)
		}
	}
}

func FuzzParseCSV(f *testing.F) {
	f.Add("account_id,phone\nA,55 1234 5678\n")
	f.Add("id;phone1;balance\nA;5512345678;1.250,5\n\"B;x\n")
	f.Add("id,phones,due_date\nA,55 1234 5678|33 1234 5678,01/02/2026\n")
	f.Add("account_id,name,phone,balance,currency,due_date\nA,\"Ana\x00\u202e\",5512345678,1e20,$$$,0001-01-01\n")
	f.Add("account_id,name,phone\nA,\"Bob,5512345678\nB\",5512345679\nC,\"x\n")
	f.Fuzz(func(t *testing.T, in string) {
		res, err := ParseCSV(strings.NewReader(in), opt)
		if err == nil {
			checkResult(t, res)
		}
	})
}

func FuzzParseJSON(f *testing.F) {
	f.Add(`[{"id":"A","phone":"5512345678"}]`)
	f.Add(`{"contacts":[{"id":1,"phones":["x"],"fields":{"a":[1]}}]}`)
	f.Fuzz(func(t *testing.T, in string) {
		res, err := ParseJSON(strings.NewReader(in), opt)
		if err == nil {
			checkResult(t, res)
		}
	})
}

func fieldOf(res Result, row int) string {
	for _, e := range res.Errors {
		if e.Row == row {
			return e.Field
		}
	}
	return ""
}

// A balance must fit Decimal(18, 2): a full-balance promise of 1e20 used to
// be accepted here and then stall the attempt log.
func TestBalancesFitTheLedger(t *testing.T) {
	in := "account_id,phone,balance\n" +
		"B1,55 1234 5678,1e20\n" +
		"B2,55 1234 5678,10000000000000000\n" +
		"B3,55 1234 5678,\"1.250,505\"\n" + // 1250.505: cents are the ledger's unit
		"B4,55 1234 5678,\"99,999,999,999,999,999.99\"\n" +
		"G5,55 1234 5678,9999999999999999.99\n" +
		"G6,55 1234 5678,0.01\n"
	res, err := ParseCSV(strings.NewReader(in), opt)
	if err != nil {
		t.Fatal(err)
	}
	for row := 1; row <= 4; row++ {
		if fieldOf(res, row) != "balance" {
			t.Errorf("row %d: %v", row, res.Errors)
		}
	}
	if len(res.Accounts) != 2 || res.Accounts[0].Balance.String() != "9999999999999999.99" {
		t.Fatalf("accounts %+v errors %v", res.Accounts, res.Errors)
	}
}

// Every account needs a currency, its own or the campaign's, and an ISO 4217 one.
func TestCurrencyRequiredAndISO(t *testing.T) {
	noCur := opt
	noCur.Currency = ""
	in := "account_id,phone,currency\n" +
		"C1,55 1234 5678,COP\n" +
		"C2,55 1234 5678,\n" +
		"C3,55 1234 5678,$$$\n" +
		"C4,55 1234 5678,mxn\n" +
		"C5,55 1234 5678,PESOS\n"
	res, err := ParseCSV(strings.NewReader(in), noCur)
	if err != nil {
		t.Fatal(err)
	}
	if fieldOf(res, 2) != "currency" || fieldOf(res, 3) != "currency" || fieldOf(res, 5) != "currency" || len(res.Accounts) != 2 ||
		res.Accounts[0].Currency != "COP" || res.Accounts[1].Currency != "MXN" {
		t.Fatalf("accounts %+v errors %v", res.Accounts, res.Errors)
	}
	if !strings.Contains(res.Errors[0].Reason, "campaign") {
		t.Errorf("missing currency reason %q does not say where to set it", res.Errors[0].Reason)
	}
	// The campaign's currency fills the gap.
	res, _ = ParseCSV(strings.NewReader("account_id,phone\nC6,55 1234 5678\n"), opt)
	if len(res.Accounts) != 1 || res.Accounts[0].Currency != "MXN" {
		t.Fatalf("campaign currency: %+v %v", res.Accounts, res.Errors)
	}
	res, _ = ParseJSON(strings.NewReader(`[{"id":"J1","phone":"5512345678"},{"id":"J2","phone":"5512345678","currency":"ABC"}]`), noCur)
	if len(res.Accounts) != 0 || fieldOf(res, 1) != "currency" || fieldOf(res, 2) != "currency" {
		t.Fatalf("json: %+v %v", res.Accounts, res.Errors)
	}
}

// Due dates from 1990 to 2100; 0001-01-01 used to give 106,751 days past due.
func TestDueDateRange(t *testing.T) {
	in := "account_id,phone,due_date\n" +
		"D1,55 1234 5678,0001-01-01\n" +
		"D2,55 1234 5678,1989-12-31\n" +
		"D3,55 1234 5678,2101-01-01\n" +
		"D4,55 1234 5678,31/12/9999\n" +
		"G5,55 1234 5678,1990-01-01\n" +
		"G6,55 1234 5678,2100-12-31\n"
	res, err := ParseCSV(strings.NewReader(in), opt)
	if err != nil {
		t.Fatal(err)
	}
	for row := 1; row <= 4; row++ {
		if fieldOf(res, row) != "due_date" {
			t.Errorf("row %d: %v", row, res.Errors)
		}
	}
	if len(res.Accounts) != 2 || res.Accounts[0].DaysPastDue > 36500 || res.Accounts[1].DaysPastDue != 0 {
		t.Fatalf("accounts %+v", res.Accounts)
	}
}

// NUL, other controls and bidirectional overrides never reach a text
// message: stripped from names and free fields, refused in an account id.
func TestControlCharactersStripped(t *testing.T) {
	in := "account_id,name,phone,segment,notes\n" +
		"N1,\"Ana\x00 Ló\u202epez\u2066\u2069\",55 1234 5678,\u200fearly\x1b,\"line\x07 one\tand\u0085 two\"\n" +
		"N\u202e2,Bob,55 1234 5678,,\n"
	res, err := ParseCSV(strings.NewReader(in), opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Accounts) != 1 || fieldOf(res, 2) != "account_id" {
		t.Fatalf("accounts %+v errors %v", res.Accounts, res.Errors)
	}
	a := res.Accounts[0]
	if a.Name != "Ana López" || a.Segment != "early" || a.Fields["notes"] != "line one and two" {
		t.Fatalf("cleaned %q %q %q", a.Name, a.Segment, a.Fields["notes"])
	}
	res, _ = ParseJSON(strings.NewReader(`[{"id":"J1","phone":"5512345678","name":"Luis\u202e\u0000 Pérez","fields":{"x\u2067":"a\u0007b"}}]`), opt)
	if len(res.Accounts) != 1 || res.Accounts[0].Name != "Luis Pérez" || res.Accounts[0].Fields["x"] != "ab" {
		t.Fatalf("json %+v %v", res.Accounts, res.Errors)
	}
}

// An unterminated quote used to swallow every row after it without a word.
func TestUnterminatedQuote(t *testing.T) {
	head := "account_id,name,phone\nA1,Ana,55 1234 5678\n"
	for name, c := range map[string]struct {
		body  string
		frag  string // the upload's error, "" when it loads
		rows  int    // accounts loaded when it loads
		err   int    // row with an error
		lines string
	}{
		"open to the end": {head + "A2,\"Bob,55 1234 5679\nA3,Carl,55 1234 5670\nA4,Dan,55 1234 5671\n", "line 3 (row 2)", 0, 0, ""},
		"closed by a later quote": {head + "A2,\"Bob,55 1234 5679\nA3,\"Carl\",55 1234 5670\nA4,Dan,55 1234 5671\n",
			"line 3 (row 2)", 0, 0, ""},
		"swallows one row": {head + "A2,\"Bob,55 1234 5679\nA3\",55 1234 5670\nA4,Dan,55 1234 5671\n", "", 2, 2, "lines 3-4"},
		"last line":        {head + "A2,\"Bob,55 1234 5679", "", 1, 2, "line 3"},
		"bare quote":       {head + "A2,Bob \"B\" Smith,55 1234 5679\nA3,Carl,55 1234 5670\n", "", 2, 2, "line 3"},
	} {
		res, err := ParseCSV(strings.NewReader(c.body), opt)
		if c.frag != "" {
			if err == nil || !strings.Contains(err.Error(), c.frag) || len(res.Accounts) != 0 {
				t.Errorf("%s: err %v, %d accounts; want an error naming %q", name, err, len(res.Accounts), c.frag)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		got := ""
		for _, e := range res.Errors {
			if e.Row == c.err {
				got = e.Reason
			}
		}
		if len(res.Accounts) != c.rows || !strings.Contains(got, c.lines) {
			t.Errorf("%s: %d accounts (want %d), row %d error %q (want %q); all %v", name, len(res.Accounts), c.rows, c.err, got, c.lines, res.Errors)
		}
	}
}

// A birth date is what a caller of the callback line may key to prove who
// they are: read as a date, refused when it cannot be one.
func TestBirthDate(t *testing.T) {
	in := "account_id,phone,fecha_nacimiento\n" +
		"D1,55 1234 5678,1985-03-15\n" +
		"D2,55 1234 5679,15/03/1985\n" +
		"D3,55 1234 5670,1985-02-30\n" +
		"D4,55 1234 5671,01/01/1850\n" +
		"D5,55 1234 5672,2999-01-01\n"
	res, err := ParseCSV(strings.NewReader(in), opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Accounts) != 2 || res.Accounts[0].BirthDate != "1985-03-15" || res.Accounts[1].BirthDate != "1985-03-15" {
		t.Fatalf("accounts %+v", res.Accounts)
	}
	if len(res.Errors) != 3 {
		t.Fatalf("errors %v", res.Errors)
	}
	for _, e := range res.Errors {
		if e.Field != "birth_date" {
			t.Errorf("row %d: %v", e.Row, e)
		}
	}
	res, err = ParseJSON(strings.NewReader(`[{"id":"J","phone":"5512345678","birth_date":"1990-12-01"}]`), opt)
	if err != nil || len(res.Accounts) != 1 || res.Accounts[0].BirthDate != "1990-12-01" {
		t.Fatalf("json: %v %+v", err, res)
	}
}
