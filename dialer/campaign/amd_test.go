package campaign

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/agent/agenttest"
	"github.com/marcador/marcador/dialer/amd"
	"github.com/marcador/marcador/dialer/amd/corpus"
	"github.com/marcador/marcador/dialer/simcarrier"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/queue"
)

// amdVoices are the carrier simulator's voices from a small labelled
// corpus (dialer/amd/corpus, rendered with espeak-ng and sox on first use
// and cached under the system's temporary directory): the people and the
// machines with a beep that the offline detector, with the default
// parameters, classifies as their class (so a wrong row is the call path's
// fault, not the detector's, whose accuracy `marcador bench amd`
// measures). Machines are in two groups: decided at once (direct), and
// first taken for a person, then revised by their beep (revised; the
// longest-treated-as-a-person first).
type amdVoices struct {
	*simcarrier.Audio
	direct, revised []int         // indexes in Machine
	outcome         []amd.Outcome // of each machine, offline
	prefix          string        // of the test's numbers (number)
}

// amdCorpusCache is the voices as classified once per test binary (they
// are only read); each test gets them with its own numbers' prefix, so
// tests running in parallel never call the same debtor.
var amdCorpusCache struct {
	sync.Mutex
	v *amdVoices
	n int // numbers' prefixes handed out, from a random start
}

func amdCorpus(t *testing.T) *amdVoices {
	t.Helper()
	if err := corpus.Available(); err != nil {
		t.Skipf("skipping: %v (CI installs them)", err)
	}
	amdCorpusCache.Lock()
	defer amdCorpusCache.Unlock()
	if amdCorpusCache.v == nil {
		amdCorpusCache.v, amdCorpusCache.n = classifyCorpus(t), int(time.Now().UnixNano()/1000%1e4)
	}
	v := *amdCorpusCache.v
	amdCorpusCache.n++
	v.prefix = fmt.Sprintf("+5255%04d", amdCorpusCache.n%1e4)
	return &v
}

func classifyCorpus(t *testing.T) *amdVoices {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const set, seed, n = "test", 15, 40
	dir := corpus.CacheDir(set, seed, n)
	if _, err := corpus.Cached(ctx, corpus.Options{Dir: dir, Set: set, Seed: seed, N: n}); err != nil {
		t.Fatal(err)
	}
	a, err := simcarrier.CorpusAudio(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	// As the call hears them: the recording, then the simulator's silence.
	heard := func(g simcarrier.Greeting) amd.Outcome {
		o, err := amd.Classify(amd.Default(), append(append([]int16{}, g.Samples...), make([]int16, 10*media.SampleRate)...))
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	v := &amdVoices{Audio: &simcarrier.Audio{}}
	for _, g := range a.Human {
		if r := heard(g).Decision.Result; r == amd.Human {
			v.Human = append(v.Human, g)
		}
	}
	for _, g := range a.Machine {
		o := heard(g)
		if o.Decision.Result != amd.Machine || o.Beep.Outcome != amd.BeepFound {
			continue
		}
		if o.Decision.Revised {
			v.revised = append(v.revised, len(v.Machine))
		} else {
			v.direct = append(v.direct, len(v.Machine))
		}
		v.Machine = append(v.Machine, g)
		v.outcome = append(v.outcome, o)
	}
	if len(v.Human) < 3 || len(v.direct) < 3 || len(v.revised) < 2 {
		t.Fatalf("corpus %s: %d people, %d machines decided at once and %d revised that the detector gets right; want 3, 3 and 2",
			dir, len(v.Human), len(v.direct), len(v.revised))
	}
	held := func(i int) time.Duration { d := v.outcome[i].Decision; return d.At - d.FirstAt }
	slices.SortStableFunc(v.revised, func(i, j int) int { return cmp.Compare(held(j), held(i)) })
	return v
}

// amdIVRCalls runs an IVR campaign with AMD (on_machine voicemail) over
// the carrier simulator speaking audio's voices, with an account per
// entry of numbers (id: phone), until every account's call is recorded;
// it returns the line and the rows by account.
func amdIVRCalls(t *testing.T, audio *amdVoices, numbers map[string]string) (*simLine, map[string]amdRow) {
	t.Helper()
	ctx := context.Background()
	h := newHarness(t)
	line := newSimLine(t, simcarrier.Options{ByLastDigit: true, Audio: audio.Audio,
		Ring: simcarrier.Range{Min: 50 * time.Millisecond, Max: 100 * time.Millisecond}, Talk: simcarrier.Range{Min: 60 * time.Second, Max: 60 * time.Second},
		DigitsAfter: 500 * time.Millisecond, Digits: "9", Proof: h.proof, Record: true},
		media.PortRange{Min: 46000, Max: 46399}, 50, 20)
	id := h.putIVRCampaign(t, ctx, func(c *queue.Campaign) {
		c.MaxConcurrent, c.CallbackNumber = 10, "8005550100"
		c.AMD = &queue.AMD{OnMachine: queue.OnMachineVoicemail}
	})
	var accts []queue.Account
	for a, num := range numbers {
		accts = append(accts, queue.Account{ID: a, NationalID: fmt.Sprint(a, "-", time.Now().UnixNano()), Country: "MX",
			Phones: []queue.Phone{{Number: num}}, Balance: decimal.NewFromInt(10000), Currency: "MXN", DueDate: "2026-11-01", DaysPastDue: 23})
	}
	h.load(t, ctx, id, accts)
	r := New(h.runnerOptions(line, "amd-ivr"))
	defer r.Close()
	if err := r.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	poll(t, "every account's call", func() bool {
		d, _ := h.store.Dispositions(ctx, id)
		var n int64
		for _, v := range d {
			n += v
		}
		return n == int64(len(accts))
	})
	r.Pause(ctx, id)
	r.Wait()
	if err := h.w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return line, h.amdRows(t, ctx, id)
}

// number is the test's number the simulator answers with greeting i of a
// person (last digit 0) or a machine (4).
func (v *amdVoices) number(i int, machine bool) string {
	last := 0
	if machine {
		last = 4
	}
	return fmt.Sprintf("%s%03d%d", v.prefix, i, last)
}

// amdRow is an attempt's AMD columns, read back from ClickHouse.
type amdRow struct {
	disposition, reason, amd, cause, path, agent string
	ms                                           uint32
}

func (h *harness) amdRows(t *testing.T, ctx context.Context, campaign string) map[string]amdRow {
	t.Helper()
	rows, err := h.conn.Query(ctx, `SELECT account_id, disposition, reason, amd, amd_cause, amd_ms, ivr_path, agent_id FROM `+h.db+
		`.contact_attempts FINAL WHERE campaign_id = ? AND channel = 'voice'`, campaign)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]amdRow{}
	for rows.Next() {
		var a string
		var x amdRow
		if err := rows.Scan(&a, &x.disposition, &x.reason, &x.amd, &x.cause, &x.ms, &x.path, &x.agent); err != nil {
			t.Fatal(err)
		}
		out[a] = x
	}
	return out
}

// An IVR campaign with AMD over real SIP: the simulator's people (corpus
// greetings) get the reminder once AMD says human, prove who they are and
// press their key after hearing it; its machines get the Reg F limited-content message
// after their beep, which the box hears (mediatest's speech meter on the
// far side) and not over its greeting.
//
// Not parallel: the detector times the greetings as they arrive, and a
// loaded machine that delays the simulator's first words makes a person's
// answer initial silence; it runs before this package's parallel tests.
func TestAMDIVRCampaignPeopleHearTheScriptMachinesGetTheMessageAfterTheBeep(t *testing.T) {
	audio := amdCorpus(t)
	numbers := map[string]string{}
	want := map[string]bool{} // account: a machine
	for i := range 3 {
		for _, machine := range []bool{false, true} {
			id := fmt.Sprintf("M%d-%v", i, machine)
			numbers[id], want[id] = audio.number(i, false), machine
			if machine {
				numbers[id] = audio.number(audio.direct[i], true)
			}
		}
	}
	line, rows := amdIVRCalls(t, audio, numbers)
	heardBeforeKeys(t, line.sim, 3)
	for a := range numbers {
		g := rows[a]
		t.Logf("%s: %+v", a, g)
		if want[a] {
			if g.disposition != "machine" || g.amd != "machine" || g.cause == "" || g.ms == 0 || g.path != "message>end" ||
				!strings.Contains(g.reason, "voicemail-limited left after the beep") {
				t.Errorf("machine %s: %+v", a, g)
			}
			continue
		}
		if g.disposition != "answered" || g.amd != "human" || g.cause == "" || g.ms == 0 || !strings.HasSuffix(g.path, "optout-done>goodbye>end") {
			t.Errorf("person %s: %+v", a, g)
		}
	}
	machines := 0
	for _, c := range line.sim.Calls() {
		if c.Outcome != simcarrier.Machine {
			continue
		}
		machines++
		// The message is a few seconds of speech after the beep; before it,
		// the box heard nothing but the dialer's silence.
		if !c.Message.IsSpeech(2*time.Second) || c.BeforeBeep.Voiced > 100*time.Millisecond {
			t.Errorf("machine %s (%s): before the beep %s, after it %s", c.To, c.Greeting, c.BeforeBeep, c.Message)
		}
	}
	if machines != 3 {
		t.Errorf("%d machines answered, want 3", machines)
	}
}

// amdAgentWorld is a node with agents whose debtors are the carrier
// simulator speaking audio's voices, each call lasting talk at most.
func amdAgentWorld(t *testing.T, audio *amdVoices, talk time.Duration) (*simcarrier.Carrier, *agentWorld) {
	t.Helper()
	sim, err := simcarrier.Start(simcarrier.Options{Listen: "127.0.0.1:0", RTPPorts: media.PortRange{Min: 35000, Max: 35499},
		ByLastDigit: true, Audio: audio.Audio, Record: true, Ring: simcarrier.Range{Min: 50 * time.Millisecond, Max: 100 * time.Millisecond},
		Talk: simcarrier.Range{Min: talk, Max: talk}, Digits: "", DigitsAfter: 200 * time.Millisecond, Patience: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	trunk, err := dialer.NewTrunk(dialer.TrunkConfig{Name: "sim", URI: "sip:" + sim.Addr(), CallerID: "+525550000100", CPS: 50, MaxChannels: 10})
	if err != nil {
		t.Fatal(err)
	}
	return sim, newAgentWorld(t, func(o *Options) { o.Trunks = map[string]*dialer.Trunk{"sim": trunk} })
}

// An agent campaign with AMD over real SIP: the simulator's people
// (corpus greetings) reach the agent; its machines are hung up on at the
// decision, never reserve the agent, and count toward the pacer's machine
// rate, not the live answers.
func TestAMDAgentCampaignPeopleReachAgentsMachinesAreHungUp(t *testing.T) {
	t.Parallel()
	audio := amdCorpus(t)
	sim, w := amdAgentWorld(t, audio, 20*time.Second)
	c := w.campaign(func(c *queue.Campaign) {
		c.WrapUp = queue.Duration(time.Second)
		c.AMD = &queue.AMD{Params: []byte(`{"profile":"human-first"}`)} // on, hang up on machines
	})
	ag := w.agent(c, agenttest.Options{})
	accts := w.debtors(c, audio.number(0, false), audio.number(audio.direct[0], true), audio.number(1, false), audio.number(audio.direct[1], true))
	w.start(c)
	w.settled(c, int64(len(accts)))
	rows := w.h.amdRows(t, w.ctx, c.ID)
	for i, a := range accts {
		g := rows[a.ID]
		t.Logf("%s: %+v", a.ID, g)
		if i%2 == 1 { // a machine
			if g.disposition != "machine" || g.amd != "machine" || g.agent != "" || g.ms == 0 ||
				!strings.Contains(g.reason, "hung up (amd.on_machine hangup)") {
				t.Errorf("machine %s: %+v", a.ID, g)
			}
			continue
		}
		if g.disposition != "answered" || g.amd != "human" || g.agent != ag.id || g.cause == "" {
			t.Errorf("person %s: %+v", a.ID, g)
		}
	}
	rates, err := w.pool.Rates(w.ctx, c.ID, c.Zone())
	if err != nil {
		t.Fatal(err)
	}
	if rates.Today.Live != 2 || rates.Today.Machine != 2 || rates.Today.Abandoned != 0 {
		t.Errorf("counts today %+v, want 2 live answers, 2 machines, no abandon", rates.Today)
	}
	ctx, cancel := context.WithTimeout(w.ctx, time.Minute)
	defer cancel()
	if err := sim.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	for _, call := range sim.Calls() {
		if call.Outcome == simcarrier.Machine && !call.Message.Silent() {
			t.Errorf("machine %s was left %s of audio; on_machine hangup leaves nothing", call.To, call.Message)
		}
	}
}
