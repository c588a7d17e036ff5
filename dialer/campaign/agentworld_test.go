package campaign

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/polltest"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/dialer/agent/agenttest"
	"github.com/marcador/marcador/dialer/registrar"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/ivr/media/mediatest"
	"github.com/marcador/marcador/ivr/paylink"
	"github.com/marcador/marcador/ivr/prompts"
	"github.com/marcador/marcador/ivr/script"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/promise"
	"github.com/marcador/marcador/queue/redistest"
)

// agentWorld is one node with agents, on the real services: its SIP
// endpoint (dialing debtors, calling agents' phones, taking their
// REGISTERs), registrar, agent pool, station, desk and runner, a test
// carrier whose debtors the test steers, and agents' test phones.
type agentWorld struct {
	t       *testing.T
	ctx     context.Context
	h       *harness
	node    string
	ep      *dialer.Endpoint
	reg     *registrar.Registrar
	pool    *agent.Pool
	st      *agent.Station
	desk    *agent.Desk
	r       *Runner
	carrier *testCarrier
	trunk   *dialer.Trunk
	dir     string // recordings.dir
	src     netip.Addr
	logs    *logBuf

	mu  sync.Mutex
	sms []SMSRequest
}

func rnd() string {
	b := make([]byte, 5)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newAgentWorld starts a node; mod adjusts the runner's options.
func newAgentWorld(t *testing.T, mod func(*Options)) *agentWorld {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	w := &agentWorld{t: t, ctx: ctx, h: newHarness(t), node: "n-" + rnd(), dir: t.TempDir(), logs: &logBuf{}}
	w.src = netip.AddrFrom4([4]byte{127, 91, byte(1 + time.Now().UnixNano()%250), byte(1 + len(t.Name())%250)})
	log := slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", tail(w.logs.String(), 60000))
		}
	})
	// The world's station does not run its lease loop, so its agents'
	// leases are never renewed: they must outlive the test, or another
	// test's reaper (parallel tests share Redis) logs them out mid-call as
	// node_lost.
	w.pool = agent.New(agent.Options{Client: w.h.rdb, LeaseTTL: 15 * time.Minute, Logger: log})
	var err error
	w.reg, err = registrar.New(ctx, registrar.Options{Redis: redistest.Client(t), Credentials: w.pool.RegistrarCredentials(),
		Realm: w.pool.Realm(), Node: w.node, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	w.ep, err = dialer.NewEndpoint(dialer.EndpointOptions{Listen: "127.0.0.1:0", RTPPorts: media.PortRange{Min: 33000, Max: 33999},
		OnRegister: w.reg.Handle, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.ep.Close() })
	var r *Runner // the station tells the runner which call lost its agent
	w.st, err = agent.NewStation(agent.StationOptions{Pool: w.pool, Node: w.node, Dialer: w.ep, Phones: w.reg,
		// Generous timeouts: a loaded machine running the tests in parallel
		// can stall a process for seconds, and a lost leg pauses its agent.
		RingTimeout: 5 * time.Second, RTPTimeout: 30 * time.Second, KeepAlive: 2 * time.Second, KeepAliveTimeout: 10 * time.Second,
		Logger: log, OnCallLost: func(c agent.CallLost) {
			if r != nil {
				r.CallLost(c)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.st.Init(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer ccancel()
		w.st.Close(cctx)
	})
	w.desk = agent.NewDesk(agent.DeskOptions{Client: w.h.rdb, Block: 200 * time.Millisecond, Logger: log})
	dctx, dstop := context.WithCancel(context.Background())
	ddone := make(chan struct{})
	go func() { w.desk.Run(dctx); close(ddone) }()
	t.Cleanup(func() { dstop(); <-ddone })
	w.carrier = startCarrier(t, log)
	w.trunk, _ = dialer.NewTrunk(dialer.TrunkConfig{Name: "sim", URI: "sip:" + w.carrier.ep.Addr(), CallerID: "+525550000100", CPS: 50, MaxChannels: 30})
	scripts, err := script.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	history, err := analytics.NewReader(w.h.conn, w.h.db)
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{Store: w.h.store, Gate: w.h.gate, Endpoint: w.ep, Trunks: map[string]*dialer.Trunk{"sim": w.trunk}, Writer: w.h.w,
		Scripts: scripts, Library: prompts.NewLibrary(""), Node: w.node, Signer: paylink.Signer{Key: []byte("0123456789abcdef0123")},
		Agents: w.st, Desk: w.desk, History: history, RecordingsDir: w.dir, Logger: log, Tick: 50 * time.Millisecond,
		Promises: promise.New(promise.Options{Redis: w.h.rdb, Store: w.h.store, Writer: w.h.w, Node: w.node,
			Key: redistest.Key(t, w.h.rdb, "marcador:promises"), Logger: log}),
		SendSMS: func(_ context.Context, m SMSRequest) error {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.sms = append(w.sms, m)
			return nil
		}}
	if mod != nil {
		mod(&opt)
	}
	r = New(opt)
	w.r = r
	t.Cleanup(r.Close)
	select {
	case <-r.agentCalls.Ready():
	case <-ctx.Done():
		t.Fatal("the runner's call channel did not come up")
	}
	return w
}

// campaign defines an agent campaign (mod edits it) and returns it.
func (w *agentWorld) campaign(mod func(*queue.Campaign)) queue.Campaign {
	w.t.Helper()
	c := queue.Campaign{ID: redistest.CampaignID(w.t, w.h.rdb), Mode: queue.ModeProgressive, Country: "MX", TimeZone: "America/Mexico_City",
		Profile: "MX", Trunk: "sim", Language: "es", CallbackNumber: "8005550100", PayURL: "https://pay.example/{token}",
		Retry: queue.RetryPolicy{MaxAttempts: 3}, Promise: queue.PromisePolicy{MaxDays: 15, MinPercent: 10}}
	if mod != nil {
		mod(&c)
	}
	if err := c.Normalize(); err != nil {
		w.t.Fatal(err)
	}
	saved, err := w.h.store.PutCampaign(w.ctx, c, time.Now())
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { w.h.rdb.SRem(context.Background(), "marcador:{agents}:campaigns", saved.ID) })
	return saved
}

// debtors loads accounts, one per number, due now.
func (w *agentWorld) debtors(c queue.Campaign, numbers ...string) []queue.Account {
	w.t.Helper()
	var accts []queue.Account
	for i, n := range numbers {
		// The national id ends in the number's last four digits: what the
		// debtor keys at an IVR script's right-party check.
		accts = append(accts, queue.Account{ID: fmt.Sprintf("D%d-%s", i, rnd()), Name: "Deudor " + strconv.Itoa(i), NationalID: "n" + rnd() + "-" + n[len(n)-4:],
			Country: "MX", Phones: []queue.Phone{{Number: n}}, Balance: decimal.NewFromInt(10000), Currency: "MXN", DueDate: "2026-11-01",
			DaysPastDue: 23, Fields: map[string]string{"producto": "tarjeta"}})
	}
	w.h.fresh(w.ctx, accts)
	if _, err := w.h.store.Load(w.ctx, c.ID, accts, time.Now().Add(-time.Minute)); err != nil {
		w.t.Fatal(err)
	}
	return accts
}

// number is a fresh debtor number.
func number() string { return fmt.Sprintf("+5255%08d", time.Now().UnixNano()%1e8) }

// testAgent is an agent with a registered test phone, logged in on the
// node (its nailed-up call taken).
type testAgent struct {
	id    string
	phone *agenttest.Phone
	leg   *agenttest.Call // the nailed-up call, as the phone has it
}

func (w *agentWorld) agent(c queue.Campaign, o agenttest.Options) *testAgent {
	w.t.Helper()
	id := "a-" + rnd()
	user := "u-" + id
	const pw = "s3cret-Pa55word"
	if _, _, err := w.pool.Put(w.ctx, agent.Definition{ID: id, SIPUser: user, Password: pw, Campaigns: []string{c.ID},
		Algorithms: []string{"md5"}}); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() {
		ctx := context.Background()
		rdb := w.h.rdb
		rdb.Del(ctx, "marcador:{agents}:agent:"+id, "marcador:{registrar}:binding:"+id, "marcador:registrar:fail:{user:"+user+"}")
		rdb.SRem(ctx, "marcador:{agents}:ids", id)
		rdb.HDel(ctx, "marcador:{agents}:where", id)
		rdb.HDel(ctx, "marcador:{agents}:gen", id)
		rdb.HDel(ctx, "marcador:{agents}:sip_users", user)
		prefix := strconv.Itoa(len(id)) + ":" + id
		ms, _ := rdb.ZRange(ctx, "marcador:{registrar}:expiry", 0, -1).Result()
		for _, m := range ms {
			if strings.HasPrefix(m, prefix) {
				rdb.ZRem(ctx, "marcador:{registrar}:expiry", m)
			}
		}
	})
	o.User, o.Password, o.Registrar, o.Listen, o.Record = user, pw, w.ep.Addr(), netip.AddrPortFrom(w.src, 0).String(), true
	if o.RTPPorts == (media.PortRange{}) {
		o.RTPPorts = media.PortRange{Min: 34500, Max: 34999}
	}
	ph, err := agenttest.Start(o)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(ph.Close)
	if err := ph.Register(w.ctx); err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.st.Login(w.ctx, id, c.ID); err != nil {
		w.t.Fatal(err)
	}
	leg, err := ph.NextCall(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	return &testAgent{id: id, phone: ph, leg: leg}
}

func (w *agentWorld) status(id string) agent.Status {
	w.t.Helper()
	st, err := w.pool.Status(w.ctx, id)
	if err != nil {
		w.t.Fatal(err)
	}
	return st
}

// waitState polls until the agent is in state.
func (w *agentWorld) waitState(id string, want agent.State) agent.Status {
	w.t.Helper()
	var st agent.Status
	if !polltest.Until(time.Minute, func() bool { st = w.status(id); return st.State == want }) {
		w.t.Fatalf("timed out after 1m0s waiting for agent %s to be %s; it is %+v", id, want, st)
	}
	return st
}

// poll waits for cond with a generous deadline.
func (w *agentWorld) poll(what string, cond func() bool) {
	w.t.Helper()
	poll(w.t, what, cond)
}

// start runs the campaign.
func (w *agentWorld) start(c queue.Campaign) {
	w.t.Helper()
	if err := w.r.Start(w.ctx, c.ID); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { w.r.Pause(context.Background(), c.ID) })
}

// settled waits until the campaign has recorded n attempts, stops it and
// flushes the rows to ClickHouse.
func (w *agentWorld) settled(c queue.Campaign, n int64) {
	w.t.Helper()
	w.poll(fmt.Sprintf("%d attempts of %s", n, c.ID), func() bool {
		d, _ := w.h.store.Dispositions(w.ctx, c.ID)
		var sum int64
		for _, v := range d {
			sum += v
		}
		return sum >= n
	})
	w.r.Pause(w.ctx, c.ID)
	w.r.Wait()
	if err := w.h.w.Flush(w.ctx); err != nil {
		w.t.Fatal(err)
	}
}

// agentRow is an attempt's agent columns as read back from ClickHouse.
type agentRow struct {
	account, disposition, reason, agent, code, recording, recErr, ivrPath string
	abandoned, rightParty                                                 uint8
	talkMS, wrapMS                                                        uint32
	promise                                                               string
}

func (w *agentWorld) rows(c queue.Campaign) map[string]agentRow {
	w.t.Helper()
	q := `SELECT account_id, disposition, reason, agent_id, agent_code, recording, recording_error, ivr_path, abandoned, right_party,
    talk_ms, wrap_ms, toString(promise_amount) FROM ` + w.h.db + `.contact_attempts FINAL WHERE campaign_id = ? AND channel = 'voice'`
	rows, err := w.h.conn.Query(w.ctx, q, c.ID)
	if err != nil {
		w.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]agentRow{}
	for rows.Next() {
		var x agentRow
		if err := rows.Scan(&x.account, &x.disposition, &x.reason, &x.agent, &x.code, &x.recording, &x.recErr, &x.ivrPath,
			&x.abandoned, &x.rightParty, &x.talkMS, &x.wrapMS, &x.promise); err != nil {
			w.t.Fatal(err)
		}
		out[x.account] = x
	}
	return out
}

// testCarrier is the debtors' network: it answers every call (PCMU) when
// the test's rule says, and each debtor sends what the test asks.
type testCarrier struct {
	t  *testing.T
	ep *dialer.Endpoint

	mu      sync.Mutex
	calls   map[string]*debtorCall // by number
	hold    map[string]chan struct{}
	busy    map[string]bool // numbers that answer 486 Busy Here
	codec   media.Codec
	wake    chan struct{}
	invited chan string // each INVITE's number, as it arrives
}

// debtorCall is one answered call at the debtor's end.
type debtorCall struct {
	number   string
	leg      *dialer.Leg
	rec      *mediatest.Recorder
	answered time.Time
}

func startCarrier(t *testing.T, log *slog.Logger) *testCarrier {
	t.Helper()
	tc := &testCarrier{t: t, calls: map[string]*debtorCall{}, hold: map[string]chan struct{}{}, busy: map[string]bool{}, codec: media.PCMU, wake: make(chan struct{}, 1),
		invited: make(chan string, 64)}
	var err error
	tc.ep, err = dialer.NewEndpoint(dialer.EndpointOptions{Listen: "127.0.0.1:0", RTPPorts: media.PortRange{Min: 34000, Max: 34499},
		Logger: log, Inbound: dialer.InboundPolicy{AnySource: true, MaxCalls: 1000, ReserveOutbound: -1},
		OnInvite: tc.answer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tc.ep.Close() })
	return tc
}

// holdUntil makes calls to number ring until release is closed.
func (tc *testCarrier) holdUntil(number string, release chan struct{}) {
	tc.mu.Lock()
	tc.hold[number] = release
	tc.mu.Unlock()
}

func (tc *testCarrier) answer(in *dialer.Inbound) {
	in.Ringing()
	select {
	case tc.invited <- in.To():
	default:
	}
	tc.mu.Lock()
	release, busy := tc.hold[in.To()], tc.busy[in.To()]
	tc.mu.Unlock()
	if busy {
		in.Reject(486, "Busy Here")
		return
	}
	if release != nil {
		select {
		case <-release:
		case <-in.Cancelled():
			return
		}
	}
	dc := &debtorCall{number: in.To(), rec: &mediatest.Recorder{}}
	leg, err := in.Answer(context.Background(), dialer.AnswerOptions{Codecs: []media.Codec{tc.codec}, OnAudio: dc.rec.OnAudio})
	if err != nil {
		tc.t.Errorf("carrier: answer %s: %v", in.To(), err)
		return
	}
	dc.leg, dc.answered = leg, time.Now()
	tc.mu.Lock()
	tc.calls[in.To()] = dc
	tc.mu.Unlock()
	select {
	case tc.wake <- struct{}{}:
	default:
	}
	<-leg.Ended()
}

// call waits for the debtor at number to have answered.
func (tc *testCarrier) call(ctx context.Context, number string) *debtorCall {
	tc.t.Helper()
	for {
		tc.mu.Lock()
		dc := tc.calls[number]
		tc.mu.Unlock()
		if dc != nil {
			return dc
		}
		select {
		case <-ctx.Done():
			tc.t.Fatalf("no call answered at %s", number)
		case <-tc.wake:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// tone is a prompt of a steady tone at freq, d long.
func tone(name string, freq float64, d time.Duration) *media.Prompt {
	return &media.Prompt{Name: name, Samples: media.Tone(freq, 8000, int(d/(time.Second/media.SampleRate)))}
}

// playLoop plays p on s, again and again, until ctx ends or s closes.
func playLoop(ctx context.Context, s *media.Session, p *media.Prompt) {
	go func() {
		for ctx.Err() == nil {
			if _, err := s.Play(ctx, false, p); err != nil {
				return
			}
		}
	}()
}

// invite waits for the INVITE to number.
func (tc *testCarrier) invite(ctx context.Context, number string) {
	tc.t.Helper()
	for {
		select {
		case n := <-tc.invited:
			if n == number {
				return
			}
		case <-ctx.Done():
			tc.t.Fatalf("no INVITE to %s", number)
		}
	}
}

// bridged starts c with one debtor and waits until the agent talks to it.
func (w *agentWorld) bridged(c queue.Campaign, ag *testAgent) (queue.Account, *debtorCall, string) {
	w.t.Helper()
	num := number()
	acct := w.debtors(c, num)[0]
	w.start(c)
	dc := w.carrier.call(w.ctx, num)
	st := w.waitState(ag.id, agent.Talking)
	return acct, dc, st.Call
}

// heardPrompt waits until the debtor has heard prompt name (es) and
// returns where it started in what the debtor received, in samples.
func heardPrompt(t *testing.T, ctx context.Context, dc *debtorCall, name string) int {
	t.Helper()
	p, err := prompts.Load("es/" + name)
	if err != nil {
		t.Fatal(err)
	}
	p.Name = name
	det := mediatest.NewDetector(media.PCMU, p)
	end, err := det.Wait(ctx, dc.rec, name, 0, nil)
	if err != nil {
		t.Fatalf("the debtor did not hear %s: %v", name, err)
	}
	// Wait gives the end of the prompt's last loud part: as far from its
	// start as in the prompt itself.
	sent := media.PCMU.Decode(nil, media.PCMU.Encode(nil, p.Samples))
	return end - det.EndOf(sent, name)
}
