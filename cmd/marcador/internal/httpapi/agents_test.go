package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/dialer/agent/agenttest"
	"github.com/marcador/marcador/dialer/registrar"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/queue/redistest"
)

// agentsFixture is the API with agents: a pool, a registrar on a SIP
// endpoint and a station on the dev Redis, as a node wires them.
type agentsFixture struct {
	*fixture
	ep      *dialer.Endpoint
	pool    *agent.Pool
	node    string
	nodeLog *syncBuffer
}

func newAgentsFixture(t *testing.T) *agentsFixture {
	t.Helper()
	rdb := redistest.Client(t)
	nodeLog := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(nodeLog, nil))
	pool := agent.New(agent.Options{Client: rdb, Logger: log})
	node := "api-" + rnd()
	reg, err := registrar.New(context.Background(), registrar.Options{Redis: rdb, Credentials: pool.RegistrarCredentials(),
		Node: node, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := dialer.NewEndpoint(dialer.EndpointOptions{Listen: "127.0.0.1:0", RTPPorts: media.PortRange{Min: 38500, Max: 38999},
		OnRegister: reg.Handle, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	st, err := agent.NewStation(agent.StationOptions{Pool: pool, Node: node, Dialer: ep, Phones: reg, RingTimeout: 5 * time.Second,
		KeepAlive: time.Second, KeepAliveTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		st.Close(ctx)
		ep.Close()
	})
	f := newFixture(t, func(o *Options) { o.Agents = st })
	return &agentsFixture{fixture: f, ep: ep, pool: pool, node: node, nodeLog: nodeLog}
}

func rnd() string {
	b := make([]byte, 5)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newAgent is a fresh agent id whose keys go when the test ends.
func (f *agentsFixture) newAgent(t *testing.T) string {
	id := "a-" + rnd()
	t.Cleanup(func() {
		ctx := context.Background()
		sip, _ := f.rdb.HGet(ctx, "marcador:{agents}:agent:"+id, "sip_user").Result()
		f.rdb.Del(ctx, "marcador:{agents}:agent:"+id, "marcador:{registrar}:binding:"+id)
		f.rdb.SRem(ctx, "marcador:{agents}:ids", id)
		f.rdb.HDel(ctx, "marcador:{agents}:where", id)
		f.rdb.HDel(ctx, "marcador:{agents}:gen", id)
		if sip != "" {
			f.rdb.HDel(ctx, "marcador:{agents}:sip_users", sip)
		}
	})
	return id
}

const agentPassword = "Pa55-word-never-shown"

// POST /api/v1/agents creates (201) and updates (200) agents and never
// answers or logs the password; bad input is 422 with the field; GET lists
// every agent and reads one.
func TestAgentsDefinitions(t *testing.T) {
	f := newAgentsFixture(t)
	id := f.newAgent(t)
	body := fmt.Sprintf(`{"id":%q,"name":"Ana Pérez","sip_user":"ana-%s","password":%q,"campaigns":[%q],"language":"es","algorithms":["md5"]}`,
		id, id, agentPassword, f.id)
	var got map[string]any
	if code := f.do(t, "POST", "/api/v1/agents", "application/json", body, true, &got); code != 201 {
		t.Fatalf("create: %d %v", code, got)
	}
	if got["id"] != id || got["name"] != "Ana Pérez" || fmt.Sprint(got["algorithms"]) != "[MD5]" || got["password"] != nil {
		t.Fatalf("created %v", got)
	}
	if code := f.do(t, "POST", "/api/v1/agents", "application/json", strings.Replace(body, "Ana Pérez", "Ana P.", 1), true, &got); code != 200 || got["name"] != "Ana P." {
		t.Fatalf("update: %d %v", code, got)
	}
	for _, c := range []struct{ body, field string }{
		{fmt.Sprintf(`{"id":%q,"sip_user":"other-%s","campaigns":[]}`, id, id), "password"},
		{fmt.Sprintf(`{"id":%q,"sip_user":"x-%s","password":"short"}`, id, id), "password"},
		{fmt.Sprintf(`{"id":%q,"sip_user":"x-%s","password":%q,"language":"fr"}`, id, id, agentPassword), "language"},
		{fmt.Sprintf(`{"id":%q,"sip_user":"x-%s","password":%q,"campaigns":["ok","bad id"]}`, id, id, agentPassword), "campaigns[1]"},
		{fmt.Sprintf(`{"id":%q,"sip_user":"a:b","password":%q}`, id, agentPassword), "sip_user"},
		{fmt.Sprintf(`{"id":%q,"sip_user":"x-%s","password":%q,"algorithms":["SHA-1"]}`, id, id, agentPassword), "algorithms[0]"},
		{`{"id":"bad id","sip_user":"x","password":"whatever-long"}`, "id"},
	} {
		var e map[string]string
		if code := f.do(t, "POST", "/api/v1/agents", "application/json", c.body, true, &e); code != 422 || e["field"] != c.field {
			t.Errorf("%s: %d %v, want 422 on %s", c.body, code, e, c.field)
		}
	}
	var e map[string]string
	if code := f.do(t, "POST", "/api/v1/agents", "application/json", `{"id":"x","pasword":"typo"}`, true, &e); code != 400 {
		t.Fatalf("unknown field: %d %v", code, e)
	}
	var list struct {
		Agents []AgentView `json:"agents"`
	}
	if code := f.do(t, "GET", "/api/v1/agents", "", "", true, &list); code != 200 {
		t.Fatalf("list: %d", code)
	}
	found := false
	for _, v := range list.Agents {
		if v.ID == id {
			found = true
			if v.State != agent.LoggedOut || v.Name != "Ana P." || v.Today.Calls != 0 {
				t.Fatalf("listed %+v", v)
			}
		}
	}
	if !found {
		t.Fatalf("agent %s not listed", id)
	}
	var one AgentView
	if code := f.do(t, "GET", "/api/v1/agents/"+id, "", "", true, &one); code != 200 || one.ID != id || one.SIPUser != "ana-"+id {
		t.Fatalf("get: %d %+v", code, one)
	}
	if code := f.do(t, "GET", "/api/v1/agents/nobody-"+rnd(), "", "", true, &e); code != 404 {
		t.Fatalf("unknown agent: %d %v", code, e)
	}
	if strings.Contains(f.logs.String()+f.nodeLog.String(), agentPassword) {
		t.Fatal("the password is in the log")
	}
	if code := f.do(t, "GET", "/api/v1/agents", "", "", false, nil); code != 401 {
		t.Fatalf("without a token: %d", code)
	}
}

// The state routes: login calls the agent's registered phone (which
// answers by itself) and answers ready; pause needs a reason; transitions
// the state does not allow are 409 with the state; no phone is 409 with
// phone_not_registered; logout hangs the leg up.
func TestAgentsStates(t *testing.T) {
	f := newAgentsFixture(t)
	id := f.newAgent(t)
	user := "u-" + id
	if _, _, err := f.pool.Put(context.Background(), agent.Definition{ID: id, SIPUser: user, Password: agentPassword,
		Campaigns: []string{f.id}, Algorithms: []string{"MD5"}}); err != nil {
		t.Fatal(err)
	}
	var e map[string]string
	if code := f.do(t, "POST", "/api/v1/agents/"+id+"/login", "", "", true, &e); code != 409 || e["reason"] != "phone_not_registered" {
		t.Fatalf("login without a phone: %d %v", code, e)
	}
	ph, err := agenttest.Start(agenttest.Options{User: user, Password: agentPassword, Registrar: f.ep.Addr(), Algorithm: "MD5",
		RTPPorts: media.PortRange{Min: 39000, Max: 39499}})
	if err != nil {
		t.Fatal(err)
	}
	defer ph.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := ph.Register(ctx); err != nil {
		t.Fatal(err)
	}
	if code := f.do(t, "POST", "/api/v1/agents/"+id+"/login", "application/json", `{"campaign":"elsewhere"}`, true, &e); code != 422 || e["field"] != "campaign" {
		t.Fatalf("login to a campaign not the agent's: %d %v", code, e)
	}
	var st StatusView
	if code := f.do(t, "POST", "/api/v1/agents/"+id+"/login", "application/json", "{}", true, &st); code != 200 ||
		st.State != agent.Ready || st.Campaign != f.id || st.Node != f.node {
		t.Fatalf("login: %d %+v", code, st)
	}
	call, err := ph.NextCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if code := f.do(t, "POST", "/api/v1/agents/"+id+"/login", "", "", true, &e); code != 409 || e["state"] != "ready" {
		t.Fatalf("second login: %d %v", code, e)
	}
	if code := f.do(t, "POST", "/api/v1/agents/"+id+"/pause", "", "", true, &e); code != 422 || e["field"] != "reason" {
		t.Fatalf("pause without a reason: %d %v", code, e)
	}
	if code := f.do(t, "POST", "/api/v1/agents/"+id+"/pause", "", `{"reason":"Lunch Break"}`, true, &e); code != 422 || e["field"] != "reason" {
		t.Fatalf("pause with a bad code: %d %v", code, e)
	}
	if code := f.do(t, "POST", "/api/v1/agents/"+id+"/pause", "", `{"reason":"lunch"}`, true, &st); code != 200 || st.State != agent.Paused || st.Reason != "lunch" {
		t.Fatalf("pause: %d %+v", code, st)
	}
	var one AgentView
	if code := f.do(t, "GET", "/api/v1/agents/"+id, "", "", true, &one); code != 200 || one.State != agent.Paused || one.Reason != "lunch" ||
		one.Campaign != f.id || one.InState < 0 || one.Today.Ready <= 0 {
		t.Fatalf("get while paused: %d %+v", code, one)
	}
	if code := f.do(t, "POST", "/api/v1/agents/"+id+"/ready", "", "", true, &st); code != 200 || st.State != agent.Ready {
		t.Fatalf("ready: %d %+v", code, st)
	}
	if code := f.do(t, "POST", "/api/v1/agents/"+id+"/logout", "", "", true, &st); code != 200 || st.State != agent.LoggedOut {
		t.Fatalf("logout: %d %+v", code, st)
	}
	select {
	case <-call.Ended():
	case <-ctx.Done():
		t.Fatal("logout left the leg up")
	}
	if code := f.do(t, "POST", "/api/v1/agents/"+id+"/pause", "", `{"reason":"lunch"}`, true, &e); code != 409 || e["state"] != "logged_out" {
		t.Fatalf("pause when logged out: %d %v", code, e)
	}
	if code := f.do(t, "POST", "/api/v1/agents/"+id+"/dance", "", "", true, &e); code != 404 {
		t.Fatalf("unknown action: %d %v", code, e)
	}
	if code := f.do(t, "POST", "/api/v1/agents/nobody-"+rnd()+"/ready", "", "", true, &e); code != 404 {
		t.Fatalf("unknown agent: %d %v", code, e)
	}
	if code := f.do(t, "POST", "/api/v1/agents/bad%20id/ready", "", "", true, &e); code != 400 {
		t.Fatalf("impossible id: %d %v", code, e)
	}
	if code := f.do(t, "POST", "/api/v1/agents/"+id+"/ready", "", "{", true, &e); code != 400 {
		t.Fatalf("broken body: %d %v", code, e)
	}
}
