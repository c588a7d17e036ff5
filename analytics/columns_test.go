package analytics

import (
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func TestCheckMoney(t *testing.T) {
	for in, frag := range map[string]string{
		"0": "", "0.01": "", "1250.50": "", "1.500": "", "9999999999999999.99": "", "-9999999999999999.99": "",
		"1e15": "", "12.3e-1": "", "1000000000000000e0": "",
		"10000000000000000":    "out of range",
		"9999999999999999.999": "decimal places",
		"1e16":                 "out of range",
		"1e30":                 "out of range",
		"1e20":                 "out of range",
		"0.001":                "more than 2 decimal places",
		"0.015":                "more than 2 decimal places",
	} {
		err := CheckMoney("amount", decimal.RequireFromString(in))
		switch {
		case frag == "" && err != nil:
			t.Errorf("%s: %v", in, err)
		case frag != "" && (err == nil || !strings.Contains(err.Error(), frag) || FieldOf(err) != "amount"):
			t.Errorf("%s: err %v, want amount: …%s…", in, err, frag)
		}
	}
	// Built, not parsed (the parser limits exponents): checked without
	// expanding the number.
	for d, frag := range map[decimal.Decimal]string{decimal.New(1, 999999999): "out of range", decimal.New(-1, 999999999): "out of range",
		decimal.New(1, -999999999): "decimal places", decimal.New(0, 999999999): ""} {
		if err := CheckMoney("amount", d); (frag == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), frag) {
			t.Errorf("%se%d: %v", d.Coefficient(), d.Exponent(), err)
		}
	}
}

func TestCheckDates(t *testing.T) {
	utc := func(y int, m time.Month, d, h, mi, s int) time.Time { return time.Date(y, m, d, h, mi, s, 0, time.UTC) }
	for _, c := range []struct {
		t        time.Time
		dt, date bool // fits DateTime, fits Date
	}{
		{time.Time{}, true, true}, // none
		{utc(1970, 1, 1, 0, 0, 0), true, true},
		{utc(2026, 11, 20, 14, 0, 0), true, true},
		{utc(2105, 12, 31, 0, 0, 0), true, true},
		{utc(2106, 2, 7, 6, 28, 15), true, false},
		{utc(2106, 2, 7, 6, 28, 16), false, false},
		{utc(1969, 12, 31, 23, 59, 59), false, false},
		{utc(1, 1, 1, 0, 0, 1), false, false},
		{utc(9999, 12, 31, 0, 0, 0), false, false},
	} {
		if err := CheckDateTime("paid_at", c.t, false); (err == nil) != c.dt || (err != nil && FieldOf(err) != "paid_at") {
			t.Errorf("DateTime %s: %v", c.t, err)
		}
		if err := CheckDate("due_date", c.t); (err == nil) != c.date || (err != nil && FieldOf(err) != "due_date") {
			t.Errorf("Date %s: %v", c.t, err)
		}
	}
	if err := CheckDateTime("started_at", time.Time{}, true); FieldOf(err) != "started_at" {
		t.Errorf("required zero time: %v", err)
	}
}

func TestValidCurrency(t *testing.T) {
	for _, ok := range []string{"MXN", "COP", "CLP", "CLF", "PEN", "USD", "EUR", "GBP", "VES", "BRL", "XOF", "ZWG", "SLE"} {
		if !ValidCurrency(ok) {
			t.Errorf("%s refused", ok)
		}
	}
	for _, bad := range []string{"", "$$$", "mxn", "MX", "MXNN", "ABC", "XXX", "XTS", "XAU", "VEF", "HRK", "DEM", "N A", "XN ", " MX"} {
		if ValidCurrency(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestClipText(t *testing.T) {
	if got := ClipText("hola", 10); got != "hola" {
		t.Fatal(got)
	}
	s := strings.Repeat("ñ", 100) // 2 bytes each
	got := ClipText(s, 51)
	if len(got) > 51 || !strings.HasSuffix(got, "…") || !strings.HasPrefix(s, strings.TrimSuffix(got, "…")) {
		t.Fatalf("%q (%d bytes)", got, len(got))
	}
}

func validAttempt() Attempt {
	t0 := time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC)
	return Attempt{AttemptID: "a1", CampaignID: "c1", AccountID: "acct", Phone: "+525512345678", Channel: Voice, NodeID: "n1",
		StartedAt: t0, EndedAt: t0.Add(time.Minute), SIPCode: 200, Disposition: "answered", LocalHour: 14, LocalWeekday: 5,
		PromiseAmount: decimal.RequireFromString("1250.50"), PromiseDate: t0.AddDate(0, 0, 7), Currency: "MXN", Ver: 1}
}

func TestRowValidation(t *testing.T) {
	long := strings.Repeat("x", MaxIDBytes+1)
	t0 := time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC)
	pay := func(f func(*Payment)) Row {
		p := Payment{PaymentID: "p1", AccountID: "a1", PaidAt: t0, Amount: decimal.NewFromInt(100), Currency: "MXN", Ver: 1}
		f(&p)
		return &p
	}
	prom := func(f func(*Promise)) Row {
		p := Promise{PromiseID: "pr1", CampaignID: "c1", AccountID: "a1", Channel: PromiseIVR, CreatedAt: t0, DueDate: t0,
			Amount: decimal.NewFromInt(300), Currency: "MXN", Status: "open", Ver: 1}
		f(&p)
		return &p
	}
	att := func(f func(*Attempt)) Row {
		a := validAttempt()
		f(&a)
		return &a
	}
	msg := func(f func(*Message)) Row {
		m := Message{MessageSID: "SM1", Direction: "inbound", Phone: "+525512345678", Channel: SMS, Body: "BAJA", At: t0, Ver: 1}
		f(&m)
		return &m
	}
	for name, c := range map[string]struct {
		row   Row
		field string // "" = valid
	}{
		"attempt ok":                {att(func(*Attempt) {}), ""},
		"attempt no id":             {att(func(a *Attempt) { a.AttemptID = "" }), "attempt_id"},
		"attempt no campaign":       {att(func(a *Attempt) { a.CampaignID = "" }), "campaign_id"},
		"attempt long account":      {att(func(a *Attempt) { a.AccountID = long }), "account_id"},
		"attempt channel":           {att(func(a *Attempt) { a.Channel = "fax" }), "channel"},
		"attempt no start":          {att(func(a *Attempt) { a.StartedAt = time.Time{} }), "started_at"},
		"attempt start 1969":        {att(func(a *Attempt) { a.StartedAt = time.Unix(-1, 0) }), "started_at"},
		"attempt ended 9999":        {att(func(a *Attempt) { a.EndedAt = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC) }), "ended_at"},
		"attempt promise 1e30":      {att(func(a *Attempt) { a.PromiseAmount = decimal.RequireFromString("1e30") }), "promise_amount"},
		"attempt promise 0.001":     {att(func(a *Attempt) { a.PromiseAmount = decimal.RequireFromString("0.001") }), "promise_amount"},
		"attempt promise negative":  {att(func(a *Attempt) { a.PromiseAmount = decimal.NewFromInt(-1) }), "promise_amount"},
		"attempt promise date 0001": {att(func(a *Attempt) { a.PromiseDate = time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC) }), "promise_date"},
		"attempt sip code":          {att(func(a *Attempt) { a.SIPCode = 1000 }), "sip_code"},
		"attempt hour":              {att(func(a *Attempt) { a.LocalHour = 24 }), "local_hour"},
		"attempt weekday":           {att(func(a *Attempt) { a.LocalWeekday = 8 }), "local_weekday"},
		"attempt long disposition":  {att(func(a *Attempt) { a.Disposition = long }), "disposition"},
		"attempt long phone":        {att(func(a *Attempt) { a.Phone = strings.Repeat("1", MaxPhoneBytes+1) }), "phone"},
		"attempt sip uri phone":     {att(func(a *Attempt) { a.Phone = "sip:lab@192.0.2.7:5060" }), ""},
		"attempt bad utf8 id":       {att(func(a *Attempt) { a.AgentID = "\xff" }), "agent_id"},
		"attempt long reason ok":    {att(func(a *Attempt) { a.Reason = strings.Repeat("r", 10*MaxReasonBytes) }), ""},
		"promise ok":                {prom(func(*Promise) {}), ""},
		"promise no id":             {prom(func(p *Promise) { p.PromiseID = "" }), "promise_id"},
		"promise channel":           {prom(func(p *Promise) { p.Channel = "web" }), "channel"},
		"promise no created":        {prom(func(p *Promise) { p.CreatedAt = time.Time{} }), "created_at"},
		"promise 1e20":              {prom(func(p *Promise) { p.Amount = decimal.RequireFromString("1e20") }), "amount"},
		"promise cents":             {prom(func(p *Promise) { p.Amount = decimal.RequireFromString("10.005") }), "amount"},
		"promise due 2200":          {prom(func(p *Promise) { p.DueDate = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC) }), "due_date"},
		"payment ok":                {pay(func(*Payment) {}), ""},
		"payment no id":             {pay(func(p *Payment) { p.PaymentID = "" }), "payment_id"},
		"payment no account":        {pay(func(p *Payment) { p.AccountID = "" }), "account_id"},
		"payment 1e30":              {pay(func(p *Payment) { p.Amount = decimal.RequireFromString("1e30") }), "amount"},
		"payment 0.001":             {pay(func(p *Payment) { p.Amount = decimal.RequireFromString("0.001") }), "amount"},
		"payment paid 0001":         {pay(func(p *Payment) { p.PaidAt = time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC) }), "paid_at"},
		"payment paid 9999":         {pay(func(p *Payment) { p.PaidAt = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC) }), "paid_at"},
		"payment no paid_at":        {pay(func(p *Payment) { p.PaidAt = time.Time{} }), "paid_at"},
		"payment currency $$$":      {pay(func(p *Payment) { p.Currency = "$$$" }), "currency"},
		"payment no currency":       {pay(func(p *Payment) { p.Currency = "" }), "currency"},
		"payment long reference":    {pay(func(p *Payment) { p.Reference = strings.Repeat("r", MaxReferenceBytes+1) }), "reference"},
		"payment long method":       {pay(func(p *Payment) { p.Method = long }), "method"},
		"message ok":                {msg(func(*Message) {}), ""},
		"message no sid":            {msg(func(m *Message) { m.MessageSID = "" }), "message_sid"},
		"message voice":             {msg(func(m *Message) { m.Channel = Voice }), "channel"},
		"message at 1900":           {msg(func(m *Message) { m.At = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC) }), "at"},
		"message long body ok":      {msg(func(m *Message) { m.Body = strings.Repeat("b", 2*MaxBodyBytes) }), ""},
		"message long action":       {msg(func(m *Message) { m.Action = long }), "action"},
	} {
		err := c.row.Validate()
		if got := FieldOf(err); got != c.field || (c.field != "" && !strings.Contains(err.Error(), c.field+": ")) {
			t.Errorf("%s: err %v (field %q), want field %q", name, err, got, c.field)
		}
	}
}

// Free text is clipped when spooled, never refused.
func TestFreeTextClippedWhenSpooled(t *testing.T) {
	a := validAttempt()
	a.Reason = strings.Repeat("r", 5000)
	a.IVRPath = strings.Repeat("n/", 5000)
	b, err := a.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	var got Attempt
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if len(got.Reason) > MaxReasonBytes || len(got.IVRPath) > MaxPathBytes || !strings.HasSuffix(got.Reason, "…") {
		t.Fatalf("reason %d bytes, ivr_path %d bytes", len(got.Reason), len(got.IVRPath))
	}
	m := Message{MessageSID: "SM1", Channel: SMS, At: a.StartedAt, Body: strings.Repeat("ü", MaxBodyBytes)}
	b, _ = m.AppendBinary(nil)
	var gm Message
	if err := gm.UnmarshalBinary(b); err != nil || len(gm.Body) > MaxBodyBytes {
		t.Fatalf("body %d bytes, %v", len(gm.Body), err)
	}
}

// Write checks every row: the check must cost little next to spooling it.
func BenchmarkAttemptValidate(b *testing.B) {
	a := validAttempt()
	a.Reason = "busy here"
	for b.Loop() {
		if err := a.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAttemptAppendBinary(b *testing.B) {
	a := validAttempt()
	buf := make([]byte, 0, 512)
	for b.Loop() {
		buf, _ = a.AppendBinary(buf[:0])
	}
}
