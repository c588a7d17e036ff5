package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics/chtest"
	"github.com/marcador/marcador/dialer/simcarrier"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
	"github.com/marcador/marcador/queue/redistest"
)

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func writeConfig(t *testing.T, listen, db string, extra ...string) string {
	p := filepath.Join(t.TempDir(), "marcador.yaml")
	// A node of its own: serve tests run in parallel on one Redis.
	cfg := fmt.Sprintf(`node_id: smoke-`+strconv.FormatInt(time.Now().UnixNano(), 36)+`
redis: {addr: %s}
clickhouse: {addr: %s, database: %s}
spool: {dir: %s, flush_interval: 50ms}
http: {listen: %s, api_tokens: [smoke-token-0123456789]}
log: {level: warn}
`, redistest.Addr(), chtest.Addr(), db, filepath.Join(t.TempDir(), "spool"), listen) + strings.Join(extra, "\n")
	if !strings.Contains(cfg, "\nsip:") {
		cfg += "\nsip: {listen: 127.0.0.1:0}\n"
	}
	os.WriteFile(p, []byte(cfg), 0o600)
	return p
}

func TestServeSmoke(t *testing.T) {
	t.Parallel()
	conn := chtest.Conn(t)
	db := chtest.Database(t, conn)
	rdb := redistest.Client(t)
	id := redistest.CampaignID(t, rdb)
	listen := freeAddr(t)
	cfg := writeConfig(t, listen, db)

	ctx, cancel := context.WithCancel(context.Background())
	var stderr bytes.Buffer
	done := make(chan int)
	go func() { done <- run(ctx, []string{"serve", "-config", cfg}, &bytes.Buffer{}, &stderr) }()
	base := "http://" + listen
	var resp *http.Response
	var err error
	for i := 0; i < 100; i++ {
		if resp, err = http.Get(base + "/healthz"); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("serve did not come up: %v\n%s", err, stderr.String())
	}
	var health map[string]string
	json.NewDecoder(resp.Body).Decode(&health)
	resp.Body.Close()
	if resp.StatusCode != 200 || health["redis"] != "ok" || health["clickhouse"] != "ok" {
		t.Fatalf("healthz %d %v", resp.StatusCode, health)
	}
	req, _ := http.NewRequest("POST", base+"/api/v1/campaigns", strings.NewReader(`{"id":"`+id+`","country":"CL","time_zone":"America/Santiago"}`))
	req.Header.Set("Authorization", "Bearer smoke-token-0123456789")
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != 201 {
		t.Fatalf("create campaign: %v %v", r, err)
	}
	r, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(r.Body)
	r.Body.Close()
	for _, m := range []string{"marcador_writer_queued_rows", "marcador_writer_spool_bytes", "marcador_writer_flushed_rows_total",
		"marcador_writer_flush_errors_total", `marcador_queue_due{campaign="` + id + `"}`} {
		if !strings.Contains(body.String(), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d: %s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
}

func TestCommandErrors(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"nope"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "unknown command") {
		t.Fatalf("unknown command: %d %s", code, errb.String())
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("redis:\n  adress: x\n"), 0o600)
	errb.Reset()
	if code := run(context.Background(), []string{"migrate", "-config", bad}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "adress") {
		t.Fatalf("bad config: %d %s", code, errb.String())
	}
	for _, cmd := range []string{"serve", "migrate", "demo", "version", "call", "simcarrier", "bench", "compliance", "redis", "dnc"} {
		errb.Reset()
		if code := run(context.Background(), []string{cmd, "-h"}, &out, &errb); code != 0 || !strings.Contains(errb.String(), "usage: marcador "+cmd) {
			t.Errorf("%s -h: %d %s", cmd, code, errb.String())
		}
	}
}

// The callback line's script must verify callers before it says anything
// about an account: serve refuses to start with one that does not.
func TestServeRefusesAnInboundScriptThatDiscloses(t *testing.T) {
	t.Parallel()
	conn := chtest.Conn(t)
	db := chtest.Database(t, conn)
	// agent-promise discloses from its start (an agent has spoken with the
	// debtor before it): never a script for whoever calls in.
	p := writeConfig(t, freeAddr(t), db, "ivr: {inbound: {script: agent-promise}}")
	var out, errb bytes.Buffer
	// Bounded: a serve that wrongly accepts the script would run on.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if code := run(ctx, []string{"serve", "-config", p}, &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), `ivr.inbound.script "agent-promise": shipped/agent-promise.yaml:11: node "promise-how": an inbound script needs a verify node`) {
		t.Fatalf("serve exited %d: %s", code, errb.String())
	}
}

func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	conn := chtest.Conn(t)
	db := chtest.Database(t, conn)
	var out bytes.Buffer
	if code := run(context.Background(), []string{"migrate", "-config", writeConfig(t, "127.0.0.1:0", db)}, &out, &bytes.Buffer{}); code != 0 {
		t.Fatalf("migrate exited %d", code)
	}
	if !strings.Contains(out.String(), "up to date") {
		t.Fatalf("migrate on a migrated db: %q", out.String())
	}
}

// TestCallCommand places real calls to the carrier simulator with
// `marcador call` and finds each attempt in ClickHouse.
func TestCallCommand(t *testing.T) {
	t.Parallel()
	conn := chtest.Conn(t)
	db := chtest.Database(t, conn)
	sim, err := simcarrier.Start(simcarrier.Options{Listen: "127.0.0.1:0", ByLastDigit: true, Digits: "42#",
		DigitsAfter: 300 * time.Millisecond, Ring: simcarrier.Range{Min: 100 * time.Millisecond, Max: 200 * time.Millisecond}, Record: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	cfg := writeConfig(t, "127.0.0.1:0", db, "sip: {listen: 127.0.0.1:0}",
		"trunks: [{name: sim, uri: 'sip:"+sim.Addr()+"', caller_id: '+525550000100'}]")
	prompt := filepath.Join("..", "..", "ivr", "prompts", "es", "reminder.wav")
	cases := []struct {
		to, disposition, dtmf string
		code                  int
	}{
		{"+525512345670", "answered", "42", 200},
		{"+525512345676", "busy", "", 486},
		{"+525512345678", "invalid_number", "", 404},
		{"sip:+525512345679@" + sim.Addr(), "network_error", "", 503},
	}
	for _, tc := range cases {
		var out, errb bytes.Buffer
		args := []string{"call", "-config", cfg, "-trunk", "sim", "-to", tc.to, "-prompt", prompt, "-digits", "4", "-timeout", "3s", "-json"}
		if code := run(context.Background(), args, &out, &errb); code != 0 {
			t.Fatalf("call %s exited %d: %s", tc.to, code, errb.String())
		}
		var res callJSON
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatalf("call %s printed %q: %v", tc.to, out.String(), err)
		}
		if res.Disposition != tc.disposition || res.SIPCode != tc.code || res.DTMF != tc.dtmf || res.Spooled {
			t.Errorf("call %s: %+v, want %s %d dtmf %q", tc.to, res, tc.disposition, tc.code, tc.dtmf)
		}
		if tc.code == 200 && (res.TalkMS == 0 || res.RingMS < 100) {
			t.Errorf("call %s: ring %d ms talk %d ms", tc.to, res.RingMS, res.TalkMS)
		}
		var disp, dtmf, country string
		var code uint16
		err := conn.QueryRow(context.Background(), "SELECT disposition, sip_code, dtmf, country FROM "+db+
			".contact_attempts FINAL WHERE attempt_id = ?", res.AttemptID).Scan(&disp, &code, &dtmf, &country)
		if err != nil || disp != tc.disposition || int(code) != tc.code || dtmf != tc.dtmf {
			t.Errorf("ClickHouse row for %s: %s %d %q %q, err %v", tc.to, disp, code, dtmf, country, err)
		}
	}
	// The person who answered keyed 42# once the prompt had spoken to them.
	heardBeforeKeys(t, sim, 1)
	// A bad trunk name is an error naming the trunks there are.
	var errb bytes.Buffer
	if code := run(context.Background(), []string{"call", "-config", cfg, "-trunk", "nope", "-to", "+525512345670"}, &bytes.Buffer{}, &errb); code != 1 ||
		!strings.Contains(errb.String(), "have: sim") {
		t.Fatalf("unknown trunk: %d %s", code, errb.String())
	}
	// A trunk without a caller id: the call is refused before anything is
	// sent (never anonymous), unless -caller-id gives one.
	nocli := writeConfig(t, "127.0.0.1:0", db, "sip: {listen: 127.0.0.1:0}", "trunks: [{name: nocli, uri: 'sip:"+sim.Addr()+"'}]")
	offered := sim.Stats().Offered
	for _, c := range []struct {
		args []string
		want string
	}{{nil, "trunk nocli has no caller_id"}, {[]string{"-caller-id", "anonymous"}, "-caller-id: no valid caller id"}} {
		errb.Reset()
		args := append([]string{"call", "-config", nocli, "-trunk", "nocli", "-to", "+525512345670"}, c.args...)
		if code := run(context.Background(), args, &bytes.Buffer{}, &errb); code != 1 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: exit %d, %s; want %q", c.args, code, errb.String(), c.want)
		}
	}
	if n := sim.Stats().Offered; n != offered {
		t.Fatalf("the carrier was offered %d calls that had no caller id", n-offered)
	}
	var out bytes.Buffer
	args := []string{"call", "-config", nocli, "-trunk", "nocli", "-to", "+525512345670", "-caller-id", "+525550000300", "-json"}
	if code := run(context.Background(), args, &out, &errb); code != 0 || !strings.Contains(out.String(), `"disposition":"answered"`) {
		t.Fatalf("with -caller-id: exit %d %s %s", code, out.String(), errb.String())
	}
}

// heardBeforeKeys checks that every person the simulator put through (want
// of them) heard Marcador speak before their first key, or before they
// hung up when they had none to press: a Marcador sending silence fails.
func heardBeforeKeys(t *testing.T, sim *simcarrier.Carrier, want int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := sim.CheckHeard(ctx, time.Second)
	if err != nil {
		t.Errorf("debtors were not spoken to: %v", err)
	}
	if n != want {
		t.Errorf("the simulator put %d people through, want %d", n, want)
	}
}

// TestCallScriptCommand runs the overdue reminder on one real call to a
// simulated debtor who promises the full balance in a week.
func TestCallScriptCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := chtest.Conn(t)
	db := chtest.Database(t, conn)
	rdb := redistest.Client(t)
	id := redistest.CampaignID(t, rdb)
	store := queue.New(queue.Options{Client: rdb})
	if _, err := store.PutCampaign(ctx, queue.Campaign{ID: id, Mode: queue.ModeIVR, Country: "MX", Profile: "MX", Trunk: "sim",
		Script: "reminder-overdue", TimeZone: "America/Mexico_City", PayURL: "https://pagos.example.com/p/{token}"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	num := fmt.Sprintf("+5255%07d0", time.Now().UnixNano()%1e7) // ends in 0: a human
	acct := queue.Account{ID: "C1", NationalID: "GOMA850315-4821", Country: "MX", Phones: []queue.Phone{{Number: num}}, Balance: decimal.RequireFromString("1250.50"),
		Currency: "MXN", DueDate: "2026-11-01", DaysPastDue: 22}
	if _, err := store.Load(ctx, id, []queue.Account{acct}, time.Now()); err != nil {
		t.Fatal(err)
	}
	// The debtor answers the right-party check (1, the id's last four), then promises.
	sim, err := simcarrier.Start(simcarrier.Options{Listen: "127.0.0.1:0", ByLastDigit: true, Digits: "1/1/2",
		Proof: func(string) string { return "4821" }, DigitsAfter: 1200 * time.Millisecond, Ring: simcarrier.Range{Min: 100 * time.Millisecond, Max: 200 * time.Millisecond},
		Talk: simcarrier.Range{Min: 40 * time.Second, Max: 40 * time.Second}, Record: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	cfg := writeConfig(t, "127.0.0.1:0", db, "trunks: [{name: sim, uri: 'sip:"+sim.Addr()+"', caller_id: '+525550000100'}]")
	var out, errb bytes.Buffer
	args := []string{"call", "-config", cfg, "-script", "reminder-overdue", "-campaign", id, "-account", "C1", "-no-gate", "-json"}
	// "In a week" is from the day in the campaign's zone when the debtor
	// keys it, somewhere between these two instants (a run can straddle
	// midnight there: CI at 06:00 UTC once did).
	inAWeek := func() string {
		return time.Now().In(time.FixedZone("CST", -6*3600)).AddDate(0, 0, 7).Format(time.DateOnly)
	}
	weekBefore := inAWeek()
	if code := run(ctx, args, &out, &errb); code != 0 {
		t.Fatalf("call -script exited %d: %s", code, errb.String())
	}
	weekAfter := inAWeek()
	var res callJSON
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("printed %q: %v", out.String(), err)
	}
	if res.Disposition != "answered" || res.DTMF != "1****112" || !strings.HasSuffix(res.IVRPath, "in-a-week>record>promise-ok>goodbye>end") ||
		res.Promise == nil || res.Promise.Amount != "1250.50" || res.Promise.Currency != "MXN" ||
		(res.Promise.Date != weekBefore && res.Promise.Date != weekAfter) {
		t.Fatalf("call -script: %+v %+v (date %s or %s)", res, res.Promise, weekBefore, weekAfter)
	}
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".promises FINAL WHERE attempt_id = ? AND toString(amount) = '1250.50'",
		res.AttemptID).Scan(&n); err != nil || n != 1 {
		t.Errorf("promise rows for %s: %d %v", res.AttemptID, n, err)
	}
	heardBeforeKeys(t, sim, 1)
	// Through the gate, a number on the campaign's do-not-call list is not dialled.
	cal, _ := compliance.LoadCalendars("", nil)
	gate, err := compliance.NewGate(compliance.GateOptions{Client: rdb, Calendars: cal, Profiles: compliance.Builtin()})
	if err != nil {
		t.Fatal(err)
	}
	if err := gate.AddDNC(ctx, compliance.DNCEntry{Phone: num, Channel: "voice", Campaign: id, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	defer gate.RemoveDNC(ctx, compliance.DNCEntry{Phone: num, Channel: "voice", Campaign: id})
	out.Reset()
	offered := sim.Stats().Offered
	if code := run(ctx, args[:len(args)-2], &out, &errb); code != 0 || !strings.Contains(out.String(), "blocked") || sim.Stats().Offered != offered {
		t.Fatalf("DNC number: exit %d, %s %s", code, out.String(), errb.String())
	}
}

// TestDemo runs the newcomer's demo end to end (fewer debtors and calls)
// on a Redis server and a ClickHouse database of its own: the demo's
// campaign ids are fixed, so two runs sharing a Redis would take each
// other's calls.
func TestDemo(t *testing.T) {
	t.Parallel()
	conn := chtest.Conn(t)
	db := chtest.Database(t, conn)
	rs := redistest.StartServer(t)
	p := filepath.Join(t.TempDir(), "marcador.yaml")
	os.WriteFile(p, []byte(fmt.Sprintf(`node_id: demo-test
redis: {addr: %s}
clickhouse: {addr: %s, database: %s}
spool: {dir: %s, flush_interval: 50ms}
sip: {listen: 127.0.0.1:0}
`, rs.Addr, chtest.Addr(), db, filepath.Join(t.TempDir(), "spool"))), 0o600)
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"demo", "-config", p, "-debtors", "200", "-calls", "12", "-media-calls", "40"}, &out, &errb); code != 0 {
		t.Fatalf("demo exited %d: %s\n%s", code, errb.String(), out.String())
	}
	s := out.String()
	for _, want := range []string{"POST /api/v1/campaigns/demo-overdue/start", "heard the IVR speak before their first key",
		"read back from ClickHouse by the KPI code", "kept/broken/pending", "demo-overdue", "this run's demo-overdue calls:",
		"wrong parties", "a promise rate of", "40 of 40 calls up, 40 with two-way audio"} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q:\n%s", want, s)
		}
	}
	var n, promises uint64
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM "+db+".contact_attempts FINAL WHERE campaign_id = 'demo-overdue'").Scan(&n); err != nil || n < 12 {
		t.Fatalf("attempts in ClickHouse: %d %v", n, err)
	}
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM "+db+".promises FINAL WHERE campaign_id = 'demo-overdue'").Scan(&promises); err != nil || promises == 0 {
		t.Fatalf("promises in ClickHouse: %d %v\n%s", promises, err, s)
	}
	// The debtor calling back proves who they are before the balance.
	if strings.Contains(s, "calls the callback line") {
		var path string
		if err := conn.QueryRow(context.Background(), "SELECT ivr_path FROM "+db+".contact_attempts FINAL WHERE trunk = 'inbound'").Scan(&path); err != nil ||
			!strings.HasPrefix(path, "welcome>verify>balance>menu>promise-how") {
			t.Fatalf("callback call: path %q %v\n%s", path, err, s)
		}
	}
}

func TestComplianceExplainCommand(t *testing.T) {
	t.Parallel()
	cfg := writeConfig(t, "127.0.0.1:0", "marcador")
	var out, errb bytes.Buffer
	args := []string{"compliance", "explain", "-config", cfg, "-profile", "CO", "-phone", "+573001234567",
		"-at", "2026-12-08T10:00:00-05:00", "-channel", "voice", "-json"}
	if code := run(context.Background(), args, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var got map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%q: %v", out.String(), err)
	}
	if got["allowed"] != false || got["rule"] != "holiday" || got["local_time"] != "2026-12-08T10:00:00-05:00" ||
		got["next_allowed"] != "2026-12-09T07:00:00-05:00" || !strings.Contains(got["reason"].(string), "Inmaculada") {
		t.Fatalf("explain: %v", got)
	}
	errb.Reset()
	if code := run(context.Background(), []string{"compliance", "explain", "-config", cfg, "-phone", "+573001234567", "-at", "mañana"}, &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), "RFC 3339") {
		t.Fatalf("bad -at: %d %s", code, errb.String())
	}
}
