package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics/polltest"
	"github.com/marcador/marcador/cmd/marcador/internal/config"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/agent/agenttest"
	"github.com/marcador/marcador/dialer/simcarrier"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
	"github.com/marcador/marcador/queue/redistest"
)

// sseEvent is one server-sent event.
type sseEvent struct{ id, kind, data string }

// follow reads a server-sent event stream into a channel.
func follow(t *testing.T, ctx context.Context, url, token string) <-chan sseEvent {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	out := make(chan sseEvent, 64)
	go func() {
		defer res.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.kind = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			case line == "" && ev.kind != "":
				out <- ev
				ev = sseEvent{}
			}
		}
	}()
	return out
}

// A progressive campaign on a node as serve builds it: the agent created
// and logged in through the API with a registered test phone, a debtor of
// the carrier simulator bridged to it; the agent's event stream pops the
// account, the call is found and disposed (a promise) and hung up through
// the API, the campaign shows its agents and answers, the recording is
// served to a token holder only, and /metrics has the campaign's answers.
func TestAgentCampaignThroughTheAPI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg, _ := testConfig(t)
	cfg.NodeID = "calls-" + rndHex()
	cfg.SIP.RTPPorts = config.Ports{Min: 32000, Max: 32499}
	cfg.HTTP.APITokens = []string{"calls-token-0123456789"}
	cfg.Recordings.Dir = t.TempDir()
	cfg.KPI.Refresh = time.Minute // config.Default has none (the file's load fills it)
	sim, err := simcarrier.Start(simcarrier.Options{Listen: "127.0.0.1:0", ByLastDigit: true, RTPPorts: media.PortRange{Min: 32500, Max: 32999},
		Ring: simcarrier.Range{Min: 50 * time.Millisecond, Max: 100 * time.Millisecond}, Talk: simcarrier.Range{Min: time.Minute, Max: time.Minute},
		Patience: time.Minute, DigitsFor: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	cfg.Trunks = []dialer.TrunkConfig{{Name: "sim", URI: "sip:" + sim.Addr(), CallerID: "+525550000100", CPS: 5, MaxChannels: 4}}
	cfg.PayLinks.Secret = "0123456789abcdef0123"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tuesday := func() time.Time { return time.Date(2026, 11, 24, 11, 0, 0, 0, time.FixedZone("CST", -6*3600)) }
	a, err := New(ctx, Options{Config: cfg, Parts: HTTP | Agents, Listener: ln, ComplianceClock: tuesday})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.Start(ctx)
	token := cfg.HTTP.APITokens[0]
	api := apiClient{t: t, base: "http://" + a.HTTPAddr(), token: token}

	id := redistest.CampaignID(t, redistest.Client(t))
	t.Cleanup(func() { redistest.Client(t).SRem(context.Background(), "marcador:{agents}:campaigns", id) })
	var saved map[string]any
	if code := api.do("POST", "/api/v1/campaigns", fmt.Sprintf(`{"id":%q,"mode":"progressive","country":"MX","time_zone":"America/Mexico_City",
		"trunk":"sim","record":true,"wrap_up":"5s","pay_url":"https://pay.example/{token}","promise":{"min_percent":10}}`, id), &saved); code != 201 ||
		saved["lines_per_agent"] != 1.0 || saved["abandon_after"] != "2s" || saved["script"] != "agent-promise" {
		t.Fatalf("campaign: %d %v", code, saved)
	}
	agentID, user, pw := "a-"+rndHex(), "", "Agent-pw-123"
	user = "ag-" + agentID
	forgetAgent(t, agentID, user)
	if code := api.do("POST", "/api/v1/agents", fmt.Sprintf(`{"id":%q,"sip_user":%q,"password":%q,"campaigns":[%q],"algorithms":["MD5"]}`,
		agentID, user, pw, id), nil); code != 201 {
		t.Fatalf("agent: %d", code)
	}
	ph, err := agenttest.Start(agenttest.Options{User: user, Password: pw, Registrar: a.Endpoint.Addr(), RTPPorts: media.PortRange{Min: 31500, Max: 31999},
		Record: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ph.Close()
	if err := ph.Register(ctx); err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if code := api.do("POST", "/api/v1/agents/"+agentID+"/login", "", &st); code != 200 || st["state"] != "ready" {
		t.Fatalf("login: %d %v", code, st)
	}
	leg, err := ph.NextCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	playing, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		for playing.Err() == nil {
			if _, err := leg.Session.Play(playing, false, &media.Prompt{Name: "agent", Samples: media.Tone(600, 8000, media.SampleRate)}); err != nil {
				return
			}
		}
	}()
	screen := follow(t, ctx, api.base+"/api/v1/agents/"+agentID+"/events", token)

	acct := queue.Account{ID: "A-" + rndHex(), Name: "Rosa Díaz", NationalID: id + "-n", Country: "MX", Phones: []queue.Phone{{Number: "+525512341230"}},
		Balance: decimal.NewFromInt(8000), Currency: "MXN", DueDate: "2026-11-01", DaysPastDue: 23}
	a.Gate.Forget(ctx, compliance.Subject{Phone: acct.Phones[0].Number, Account: acct.ID, NationalID: acct.NationalID, Country: "MX"})
	if _, err := a.Store.Load(ctx, id, []queue.Account{acct}, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if code := api.do("POST", "/api/v1/campaigns/"+id+"/start", "", nil); code != 200 {
		t.Fatalf("start: %d", code)
	}
	var pop struct {
		Call    string
		Account struct{ ID, Name, Balance string }
	}
	select {
	case ev := <-screen:
		if ev.kind != "call" || ev.id == "" {
			t.Fatalf("first event %+v", ev)
		}
		var env struct{ Data json.RawMessage }
		json.Unmarshal([]byte(ev.data), &env)
		if err := json.Unmarshal(env.Data, &pop); err != nil || pop.Account.ID != acct.ID || pop.Account.Name != "Rosa Díaz" ||
			pop.Account.Balance != "8000.00" {
			t.Fatalf("screen pop %s: %v", ev.data, err)
		}
	case <-ctx.Done():
		t.Fatal("no screen pop")
	}
	var call map[string]any
	if code := api.do("GET", "/api/v1/calls/"+pop.Call, "", &call); code != 200 || call["state"] != "talking" || call["agent"] != agentID {
		t.Fatalf("call: %d %v", code, call)
	}
	bridged := len(leg.Heard()) // the nailed-up leg's audio so far; from here on the bridge relays the debtor's
	var e map[string]string
	if code := api.do("POST", "/api/v1/calls/"+pop.Call+"/disposition", `{"code":"promise","amount":"100","date":"2026-12-01"}`, &e); code != 422 ||
		e["field"] != "amount" {
		t.Fatalf("a promise under the policy: %d %v", code, e)
	}
	if code := api.do("POST", "/api/v1/calls/"+pop.Call+"/disposition", `{"code":"promise","amount":8000,"extra":1}`, &e); code != 400 {
		t.Fatalf("an unknown field: %d %v", code, e)
	}
	date := time.Now().In(time.FixedZone("CST", -6*3600)).AddDate(0, 0, 2).Format(time.DateOnly)
	var ans map[string]any
	if code := api.do("POST", "/api/v1/calls/"+pop.Call+"/disposition", `{"code":"promise","amount":"8000","date":"`+date+`"}`, &ans); code != 200 ||
		ans["code"] != "promise" {
		t.Fatalf("promise: %d %v", code, ans)
	}
	// Some talk, recorded: a second of the debtor's side has crossed the
	// bridge (which hands each frame it relays to the recorder).
	polltest.Eventually(t, 30*time.Second, func() bool { return len(leg.Heard())-bridged >= media.SampleRate },
		"a second of the debtor's audio at the agent's phone")
	if code := api.do("POST", "/api/v1/calls/"+pop.Call+"/hangup", "", &ans); code != 200 {
		t.Fatalf("hangup: %d %v", code, ans)
	}
	if !polltest.Until(30*time.Second, func() bool { api.do("GET", "/api/v1/calls/"+pop.Call, "", &call); return call["state"] == "ended" }) {
		t.Fatalf("call %v", call)
	}
	var view struct {
		InFlight int64 `json:"in_flight"`
		Agents   struct {
			LoggedIn int `json:"logged_in"`
			Ready    int `json:"ready"`
		}
		Answers struct {
			Today struct{ Live, Abandoned int64 }
		}
	}
	if code := api.do("GET", "/api/v1/campaigns/"+id, "", &view); code != 200 || view.Agents.LoggedIn != 1 || view.Answers.Today.Live != 1 ||
		view.Answers.Today.Abandoned != 0 {
		t.Fatalf("campaign view: %d %+v", code, view)
	}
	// The recording: for token holders only.
	res, err := http.Get(api.base + "/api/v1/calls/" + pop.Call + "/recording")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Fatalf("recording without a token: %d", res.StatusCode)
	}
	req, _ := http.NewRequest("GET", api.base+"/api/v1/calls/"+pop.Call+"/recording", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	wav, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "audio/wav" || len(wav) < 8000 || string(wav[:4]) != "RIFF" {
		t.Fatalf("recording: %d %s, %d bytes", res.StatusCode, res.Header.Get("Content-Type"), len(wav))
	}
	if code := api.do("GET", "/api/v1/calls/"+"01234567-0123-0123-0123-0123456789ab"+"/recording", "", &e); code != 404 {
		t.Fatalf("a recording that does not exist: %d", code)
	}
	res, err = http.Get(api.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{`marcador_campaign_live_answers{campaign="` + id + `",window="today"} 1`,
		`marcador_campaign_live_answers{campaign="` + id + `",window="1h"} 1`, `marcador_campaign_abandon_rate{campaign="` + id + `",window="24h"} 0`,
		`marcador_campaign_abandoned{campaign="` + id + `",window="30d"} 0`, "marcador_recording_errors_total 0",
		`marcador_pacing_dials_total{campaign="` + id + `"} 1`, `marcador_pacing_dial_level{campaign="` + id + `"} `,
		`marcador_pacing_agents{campaign="` + id + `",state="logged_in"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
}
