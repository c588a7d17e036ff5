package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/campaign"
	"github.com/marcador/marcador/ivr/script"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
	"github.com/marcador/marcador/sms"
)

// testRefs are what serve would pass: one trunk, the shipped profiles,
// scripts and templates.
func testRefs(t *testing.T) (queue.CampaignRefs, map[string]*script.Script) {
	t.Helper()
	scripts, err := script.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	tpls, err := sms.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	r := queue.CampaignRefs{Trunks: map[string]bool{"carrier": true}, Profiles: map[string]bool{}, Scripts: map[string][]string{},
		Template: tpls.Known}
	for n := range compliance.Builtin() {
		r.Profiles[n] = true
	}
	for n, s := range scripts {
		for _, node := range s.Nodes {
			if node.SMS != nil {
				r.Scripts[n] = append(r.Scripts[n], node.SMS.Template)
			}
		}
		if r.Scripts[n] == nil {
			r.Scripts[n] = []string{}
		}
	}
	r.Discloses = campaign.Disclosures(scripts)
	return r, scripts
}

// A campaign that would stall is refused when created (422, field and
// reason) and, stored by an older version or under another config, when
// started (409, field and reason).
func TestCampaignRefusedAtCreateAndAtStart(t *testing.T) {
	refs, scripts := testRefs(t)
	trunk, err := dialer.NewTrunk(dialer.TrunkConfig{Name: "carrier", URI: "sip:127.0.0.1:5099"})
	if err != nil {
		t.Fatal(err)
	}
	var runner *campaign.Runner
	f := newFixture(t, func(o *Options) {
		o.Refs = refs
		runner = campaign.New(campaign.Options{Store: o.Store, Gate: o.Gate, Trunks: map[string]*dialer.Trunk{"carrier": trunk},
			Scripts: scripts, Refs: refs, Logger: o.Logger})
		o.Runner = runner
	})
	t.Cleanup(runner.Close)
	good := map[string]any{"id": f.id, "mode": "ivr", "country": "MX", "time_zone": "America/Mexico_City", "currency": "MXN",
		"trunk": "carrier", "script": "reminder-overdue", "pay_url": "https://pagos.example.com/p/{token}"}
	cases := []struct {
		name          string
		set           map[string]any
		field, reason string
	}{
		{"unknown profile", map[string]any{"profile": "ZZ"}, "profile", `"ZZ" is not a compliance profile here`},
		{"unknown trunk", map[string]any{"trunk": "nope"}, "trunk", `"nope" is not configured (have: carrier)`},
		{"time zone Local", map[string]any{"time_zone": "Local"}, "time_zone", `"Local" is not an IANA zone`},
		{"time zone not a zone", map[string]any{"time_zone": "posixrules"}, "time_zone", "not an IANA zone"},
		{"javascript pay_url", map[string]any{"pay_url": "javascript:alert(1)//{token}"}, "pay_url", "want https://"},
		{"http pay_url to a host", map[string]any{"pay_url": "http://pagos.example.com/{token}"}, "pay_url", "want https://"},
		{"currency", map[string]any{"currency": "$$$"}, "currency", "not an ISO 4217 currency code"},
		{"script texts a link, no pay_url", map[string]any{"pay_url": ""}, "pay_url", `script "reminder-overdue" texts template "payment-link"`},
		{"fallback link, no pay_url", map[string]any{"pay_url": "", "script": "",
			"sms": map[string]any{"fallback": []any{map[string]any{"after": []string{"no_answer"}, "template": "payment-link"}}}},
			"sms.fallback[0].template", `"payment-link" sends a payment link and the campaign has no pay_url`},
		{"fallback text after a wrong party", map[string]any{
			"sms": map[string]any{"fallback": []any{map[string]any{"after": []string{"busy", "wrong_party"}, "template": "payment-link"}}}},
			"sms.fallback[0].after", `"wrong_party": whoever answered has not proven they are the debtor; a text to the number would disclose the debt to a third party`},
		{"unknown script", map[string]any{"script": "nope"}, "script", `"nope" is not loaded`},
		// Whoever answers may not be the debtor: a script that discloses
		// before a right-party check is no campaign's.
		{"script discloses at answer", map[string]any{"script": "agent-promise"}, "script",
			`script "agent-promise" tells whoever answers about the account before a right-party check: shipped/agent-promise.yaml:11: node "promise-how": ` +
				`plays p/promise-how, which is not a public phrase (public ones name the company or offer help; declare your own under public:) ` +
				`before the caller is verified (reached by promise-how without a verify node's next)`},
	}
	for _, c := range cases {
		body := map[string]any{}
		for k, v := range good {
			body[k] = v
		}
		for k, v := range c.set {
			body[k] = v
		}
		b, _ := json.Marshal(body)
		var e map[string]string
		code := f.do(t, "POST", "/api/v1/campaigns", "application/json", string(b), true, &e)
		if code != http.StatusUnprocessableEntity || e["field"] != c.field || !strings.Contains(e["reason"], c.reason) {
			t.Errorf("create, %s: %d %v", c.name, code, e)
		}
	}
	if _, err := f.store.Campaign(context.Background(), f.id); err == nil {
		t.Fatal("a refused campaign was stored")
	}
	var saved queue.Campaign
	b, _ := json.Marshal(good)
	if code := f.do(t, "POST", "/api/v1/campaigns", "application/json", string(b), true, &saved); code != http.StatusCreated {
		t.Fatalf("good campaign: %d", code)
	}

	// Start re-checks the stored definition: one written before these
	// rules (or under a config that had another trunk or profile) is
	// refused with the field and the reason, and does not run.
	for _, c := range cases {
		if c.field == "trunk" || c.field == "script" {
			continue // the runner names these itself, below
		}
		def := saved
		raw, _ := json.Marshal(def)
		var m map[string]any
		json.Unmarshal(raw, &m)
		for k, v := range c.set {
			if k != "script" { // the runner needs a loaded script before anything else
				m[k] = v
			}
		}
		raw, _ = json.Marshal(m)
		if err := f.rdb.Set(context.Background(), "marcador:{"+f.id+"}:campaign", raw, 0).Err(); err != nil {
			t.Fatal(err)
		}
		var e map[string]string
		code := f.do(t, "POST", "/api/v1/campaigns/"+f.id+"/start", "", "", true, &e)
		if code != http.StatusConflict || e["field"] != c.field || !strings.Contains(e["reason"], c.reason) {
			t.Errorf("start, %s: %d %v", c.name, code, e)
		}
		if st, _ := f.store.Status(context.Background(), f.id); st == queue.StatusRunning {
			t.Fatalf("start, %s: campaign running", c.name)
		}
	}
	raw, _ := json.Marshal(saved)
	raw = []byte(strings.Replace(string(raw), `"trunk":"carrier"`, `"trunk":"gone"`, 1))
	f.rdb.Set(context.Background(), "marcador:{"+f.id+"}:campaign", raw, 0)
	var e map[string]string
	if code := f.do(t, "POST", "/api/v1/campaigns/"+f.id+"/start", "", "", true, &e); code != http.StatusConflict ||
		!strings.Contains(e["error"], `trunk "gone" is not configured`) {
		t.Fatalf("start with a trunk the config lost: %d %v", code, e)
	}
	// Stored before the right-party rule, a campaign whose calls would
	// disclose at answer does not start.
	raw, _ = json.Marshal(saved)
	raw = []byte(strings.Replace(string(raw), `"script":"reminder-overdue"`, `"script":"agent-promise"`, 1))
	f.rdb.Set(context.Background(), "marcador:{"+f.id+"}:campaign", raw, 0)
	if code := f.do(t, "POST", "/api/v1/campaigns/"+f.id+"/start", "", "", true, &e); code != http.StatusConflict || e["field"] != "script" ||
		!strings.Contains(e["reason"], `node "promise-how"`) {
		t.Fatalf("start with a disclosing script: %d %v", code, e)
	}
}

// Wrong inputs get the status that says so, never a 503 with an ERROR line.
func TestStatusCodesForBadInput(t *testing.T) {
	f := newFixture(t)
	f.createCampaign(t)
	long := strings.Repeat("x", 65)
	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/api/v1/campaigns/%20bad%7B", "", 400},
		{"GET", "/api/v1/campaigns/a%7Bb%7D", "", 400},
		{"GET", "/api/v1/campaigns/a:b", "", 400},
		{"GET", "/api/v1/campaigns/a%20b", "", 400},
		{"GET", "/api/v1/campaigns/" + long, "", 400},
		{"GET", "/api/v1/campaigns/-x", "", 400},
		{"POST", "/api/v1/campaigns/%7Bx%7D/contacts", "account_id,phone\nA,5512345678\n", 400},
		{"GET", "/api/v1/campaigns/nope-" + f.id, "", 404},
	} {
		var e map[string]string
		if code := f.do(t, c.method, c.path, "text/csv", c.body, true, &e); code != c.want || e["error"] == "" {
			t.Errorf("%s %s: %d %v, want %d", c.method, c.path, code, e, c.want)
		}
	}
	if strings.Contains(f.logs.String(), "level=ERROR") {
		t.Fatalf("bad input logged as an error:\n%s", f.logs.String())
	}

	camp := func(tail string) string {
		return `{"id":"` + f.id + `","country":"MX","time_zone":"America/Mexico_City"}` + tail
	}
	for _, c := range []struct {
		name, body string
		want       int
	}{
		{"trailing garbage", camp("garbage"), 400},
		{"a second value", camp(`{"id":"other"}`), 400},
		{"a second bracket", camp("}"), 400},
		{"trailing whitespace", camp(" \n\t"), 200},
		{"empty", "", 400},
		{"over 1 MiB", `{"id":"` + f.id + `","name":"` + strings.Repeat("a", 1<<20) + `"}`, 413},
		{"over 1 MiB after the value", camp(strings.Repeat(" ", 1<<20)), 413},
	} {
		var e map[string]any
		if code := f.do(t, "POST", "/api/v1/campaigns", "application/json", c.body, true, &e); code != c.want {
			t.Errorf("campaign body, %s: %d %v, want %d", c.name, code, e, c.want)
		}
	}
}

func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	f := newFixture(t)
	for auth, want := range map[string]int{
		"Bearer " + token: 404, "bearer " + token: 404, "BEARER " + token: 404, "bEaReR   " + token + " ": 404,
		"Basic " + token: 401, "Bearer": 401, "Bearer ": 401, token: 401, "Bearertoken " + token: 401,
	} {
		req, _ := http.NewRequest("GET", f.srv.URL+"/api/v1/campaigns/nope-"+f.id, nil)
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Authorization %q: %d, want %d", auth, resp.StatusCode, want)
		}
	}
}

// FuzzDecodeCampaign: whatever the body, the campaign decoder and checks
// answer with an error or a campaign that passes its own rules, and never
// panic.
func FuzzDecodeCampaign(f *testing.F) {
	for _, s := range []string{
		`{"id":"c1","country":"MX","time_zone":"America/Mexico_City"}`,
		`{"id":"c1","country":"MX","time_zone":"Local"}`,
		`{"id":"c1","country":"MX","time_zone":"../../etc/passwd"}`,
		`{"id":"c1","country":"MX","time_zone":"UTC","pay_url":"javascript:alert(1)"}`,
		`{"id":"c1","country":"MX","time_zone":"UTC","pay_url":"https://{account}.evil.example/"}`,
		`{"id":"c1","country":"MX","time_zone":"UTC","currency":"$$$"}`,
		`{"id":"c1","country":"MX","time_zone":"UTC","profile":"ZZ","trunk":"nope"}`,
		`{"id":" bad{","country":"MX","time_zone":"UTC"}`,
		`{"id":"a:b}","country":"MX","time_zone":"UTC"}`,
		`{"id":"c1","country":"MX","time_zone":"UTC"}garbage`,
		`{"id":"c1","country":"MX","time_zone":"UTC"}{"id":"c2"}`,
		`{"id":"c1","colour":"red"}`,
		`{"id":"c1","retry":{"delays":{"busy":"soon"}}}`,
		`{"id":"c1","country":"MX","time_zone":"UTC","ring_timeout":"-1h","max_concurrent":-1}`,
		`{"id":"c1","country":"MX","time_zone":"UTC","sms":{"fallback":[{"after":["no_answer"],"template":"payment-link"}]}}`,
		`[]`, `null`, `"c1"`, ``, `{`,
	} {
		f.Add(s)
	}
	refs := queue.CampaignRefs{Trunks: map[string]bool{"carrier": true}, Profiles: map[string]bool{"MX": true},
		Scripts:  map[string][]string{"reminder-overdue": {"payment-link"}},
		Template: func(lang, name string) (bool, bool) { return name == "payment-link", name == "payment-link" }}
	f.Fuzz(func(t *testing.T, body string) {
		var c queue.Campaign
		if err := decodeOne(strings.NewReader(body), &c); err != nil {
			return
		}
		if err := c.Normalize(); err != nil {
			if !strings.HasPrefix(err.Error(), "campaign") {
				t.Fatalf("error without the campaign: %v", err)
			}
			return
		}
		if err := c.CheckRefs(refs); err != nil {
			return
		}
		if err := queue.CheckID(c.ID); err != nil {
			t.Fatalf("accepted id %q: %v", c.ID, err)
		}
		if err := c.Check(refs); err != nil {
			t.Fatalf("accepted, then refused on a second look: %v", err)
		}
		if c.PayURL != "" && !strings.HasPrefix(c.PayURL, "https://") && !strings.HasPrefix(c.PayURL, "http://") {
			t.Fatalf("accepted pay_url %q", c.PayURL)
		}
		_ = fmt.Sprint(c)
	})
}
