package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/marcador/marcador/analytics/polltest"
	"github.com/marcador/marcador/cmd/marcador/internal/config"
	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/dialer/baresiptest"
	"github.com/marcador/marcador/dialer/registrar"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/ivr/media/mediatest"
	"github.com/marcador/marcador/queue/redistest"
)

// apiClient talks to a node's HTTP API.
type apiClient struct {
	t     *testing.T
	base  string
	token string
}

func (c apiClient) do(method, path, body string, out any) int {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			c.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return res.StatusCode
}

func rndHex() string {
	b := make([]byte, 5)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// forgetAgent deletes an agent's directory and registrar keys when the test
// ends.
func forgetAgent(t *testing.T, id, user string) {
	rdb := redistest.Client(t)
	t.Cleanup(func() {
		ctx := context.Background()
		rdb.Del(ctx, "marcador:{agents}:agent:"+id, "marcador:{registrar}:binding:"+id, "marcador:registrar:fail:{user:"+user+"}")
		rdb.SRem(ctx, "marcador:{agents}:ids", id)
		rdb.HDel(ctx, "marcador:{agents}:where", id)
		rdb.HDel(ctx, "marcador:{agents}:gen", id)
		rdb.HDel(ctx, "marcador:{agents}:sip_users", user)
	})
}

// A node as serve builds it, with Debian's baresip as the agent's phone:
// the agent is created through the API (challenged with MD5, which is all
// baresip 1.0 answers), baresip registers with digest through the node's
// SIP endpoint, the agent logs in through the API, baresip answers the
// nailed-up leg by itself and hears a tone the node sends on it, and the
// leg stays up between calls (keep-alive OPTIONS answered). A wrong
// password gets 401 until the user is locked out (403). Killing baresip
// (no BYE) pauses the agent with phone_disconnected. Un-REGISTER removes
// the binding, and Ready then says the phone is not registered.
func TestBaresipAgentThroughTheNode(t *testing.T) {
	ctx := context.Background()
	cfg, _ := testConfig(t)
	cfg.NodeID = "agents-" + rndHex()
	cfg.SIP.RTPPorts = config.Ports{Min: 43500, Max: 43999}
	cfg.HTTP.APITokens = []string{"agents-token-0123456789"}
	cfg.Agents.KeepAlive, cfg.Agents.KeepAliveTimeout, cfg.Agents.RTPTimeout = 2*time.Second, time.Second, 4*time.Second
	// baresip registers from 127.0.0.1, like every other test's phones:
	// count its user's failures, not its address's.
	cfg.Registrar.Lockout.Exempt = []string{"127.0.0.1"}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(ctx, Options{Config: cfg, Parts: HTTP | Agents, Listener: ln})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.Start(ctx)
	api := apiClient{t: t, base: "http://" + a.HTTPAddr(), token: cfg.HTTP.APITokens[0]}
	campaign := redistest.CampaignID(t, redistest.Client(t))
	id, user, password := "a-"+rndHex(), "", "Bar3sip-pw"
	user = "ana-" + id
	forgetAgent(t, id, user)
	var created map[string]any
	if code := api.do("POST", "/api/v1/agents", fmt.Sprintf(`{"id":%q,"name":"Ana","sip_user":%q,"password":%q,"campaigns":[%q],"algorithms":["MD5"]}`,
		id, user, password, campaign), &created); code != 201 {
		t.Fatalf("create: %d %v", code, created)
	}

	ph := baresiptest.Start(t, baresiptest.Options{User: "idle", RTPPorts: media.PortRange{Min: 44500, Max: 44599}})
	acct := baresiptest.Account{User: user, Password: password, Registrar: a.Endpoint.Addr()}
	if err := ph.Register(acct); err != nil {
		t.Fatal(err)
	}
	if _, err := ph.WaitEvent("REGISTER_OK", 1, 20*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, ph.Output())
	}
	var st map[string]any
	if code := api.do("POST", "/api/v1/agents/"+id+"/login", "", &st); code != 200 || st["state"] != "ready" || st["node"] != cfg.NodeID {
		t.Fatalf("login: %d %v\n%s", code, st, ph.Output())
	}
	if _, err := ph.WaitEvent("CALL_ESTABLISHED", 1, 20*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, ph.Output())
	}
	sess, err := a.Station.Session(id)
	if err != nil {
		t.Fatal(err)
	}
	tone := &media.Prompt{Name: "tone", Samples: media.Tone(700, 8000, media.SampleRate)}
	if _, err := sess.Play(ctx, false, tone); err != nil {
		t.Fatal(err)
	}
	var heard []int16
	if !polltest.Until(20*time.Second, func() bool { heard, _ = ph.Heard(); return mediatest.ToneAt(heard, 700) >= 600*time.Millisecond }) {
		t.Fatalf("baresip heard %s of the node's tone", mediatest.ToneAt(heard, 700))
	}
	// Between calls the leg stays up: baresip answers the keep-alives.
	if !polltest.Until(20*time.Second, func() bool { return strings.Count(ph.Output(), "OPTIONS sip:") >= 3 }) {
		t.Fatalf("no keep-alives reached baresip\n%s", ph.Output())
	}
	var one map[string]any
	if code := api.do("GET", "/api/v1/agents/"+id, "", &one); code != 200 || one["state"] != "ready" || one["campaign"] != campaign {
		t.Fatalf("after the keep-alives: %d %v\n%s", code, one, ph.Output())
	}

	// A wrong password: 401 (five fresh challenges), then the user is
	// locked out (403), logged once.
	wrongID, wrongUser := "a-"+rndHex(), "wrong-"+rndHex()
	forgetAgent(t, wrongID, wrongUser)
	if code := api.do("POST", "/api/v1/agents", fmt.Sprintf(`{"id":%q,"sip_user":%q,"password":"Right-pw-123","campaigns":[%q],"algorithms":["MD5"]}`,
		wrongID, wrongUser, campaign), nil); code != 201 {
		t.Fatalf("create the second agent: %d", code)
	}
	bad := baresiptest.Start(t, baresiptest.Options{User: "idle", RTPPorts: media.PortRange{Min: 44600, Max: 44699}})
	if err := bad.Register(baresiptest.Account{User: wrongUser, Password: "Guess-4711", Registrar: a.Endpoint.Addr()}); err != nil {
		t.Fatal(err)
	}
	if _, err := bad.WaitEvent("REGISTER_FAIL", 1, 20*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, bad.Output())
	}
	if out := bad.Output(); strings.Count(out, "SIP/2.0 401") != 5 || strings.Count(out, "SIP/2.0 403") != 1 {
		t.Fatalf("want five challenges then 403\n%s", out)
	}
	if bs, _ := a.Registrar.Lookup(ctx, wrongID); len(bs) != 0 {
		t.Fatalf("bindings of the wrong password: %+v", bs)
	}

	// The phone dies: no BYE, no RTP, no answer to OPTIONS.
	ph.Kill()
	if !polltest.Until(30*time.Second, func() bool {
		api.do("GET", "/api/v1/agents/"+id, "", &one)
		return one["state"] == "paused" && one["reason"] == agent.ReasonPhoneDisconnected
	}) {
		t.Fatalf("agent after its phone died: %v", one)
	}

	// A new phone registers; un-REGISTER removes its binding, and Ready
	// then has nothing to call.
	ph2 := baresiptest.Start(t, baresiptest.Options{User: "idle", RTPPorts: media.PortRange{Min: 44700, Max: 44799}})
	if err := ph2.Register(acct); err != nil {
		t.Fatal(err)
	}
	if _, err := ph2.WaitEvent("REGISTER_OK", 1, 20*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, ph2.Output())
	}
	if bs, err := a.Registrar.Lookup(ctx, id); err != nil || len(bs) != 1 || bs[0].Received != ph2.Addr {
		t.Fatalf("bindings %+v %v (phone at %s)", bs, err, ph2.Addr)
	}
	if err := ph2.Unregister(acct); err != nil {
		t.Fatal(err)
	}
	var bs []registrar.Binding
	if !polltest.Until(20*time.Second, func() bool { bs, err = a.Registrar.Lookup(ctx, id); return err == nil && len(bs) == 0 }) {
		t.Fatalf("bindings after un-REGISTER: %+v %v\n%s", bs, err, ph2.Output())
	}
	var e map[string]string
	if code := api.do("POST", "/api/v1/agents/"+id+"/ready", "", &e); code != 409 || e["reason"] != "phone_not_registered" {
		t.Fatalf("ready with no phone: %d %v", code, e)
	}
	if code := api.do("POST", "/api/v1/agents/"+id+"/logout", "", &st); code != 200 || st["state"] != "logged_out" {
		t.Fatalf("logout: %d %v", code, st)
	}
}
