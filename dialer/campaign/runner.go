// Package campaign runs agentless (IVR) campaigns: it claims due contacts,
// asks the compliance gate, dials them within the campaign's concurrency and
// the trunk's limits, runs the campaign's script on answer, records every
// attempt and promise, and applies the retry policy.
package campaign

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/ivr"
	"github.com/marcador/marcador/ivr/paylink"
	"github.com/marcador/marcador/ivr/prompts"
	"github.com/marcador/marcador/ivr/script"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
	"github.com/marcador/marcador/queue/contact"
	"github.com/marcador/marcador/queue/promise"
)

// Writer takes attempt and promise rows (analytics/writer.Writer).
type Writer interface {
	Write(ctx context.Context, row analytics.Row) error
}

// Options wire a Runner.
type Options struct {
	Store    *queue.Store
	Gate     *compliance.Gate
	Endpoint *dialer.Endpoint
	Trunks   map[string]*dialer.Trunk
	Writer   Writer
	Scripts  map[string]*script.Script
	Library  *prompts.Library
	Signer   paylink.Signer
	Node     string
	// SendSMS queues a text: a script's sms node, a campaign's fallback
	// after a call, a promise reminder (Remind). nil records the request
	// only (the attempt's ivr_path shows it).
	SendSMS func(ctx context.Context, m SMSRequest) error
	// Promises keeps the promises the IVR captures (queue/promise); default
	// a ledger on Store's Redis with Writer, Node and Now.
	Promises *promise.Ledger
	// Inbound configures the callback line (see Runner.Inbound).
	Inbound InboundOptions
	// Ready, when set, is asked before every claim: an error (Redis lost
	// its data, see queue/epoch) holds the runner, which then claims, dials
	// and texts nothing until it is nil again.
	Ready func() error
	// Refs is what a campaign may name on this node; Start re-checks a
	// stored definition against it (and Normalize's rules).
	Refs queue.CampaignRefs
	// Tick is how often a running campaign tops up its calls; default 250ms.
	Tick time.Duration
	// Now is the attempts' clock (see leaseNow for the leases'); default
	// time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// leaseNow is the clock of the queue's leases: claiming, extending and
// completing a lease, and marking an account done. A lease is a Redis fact
// that every node judges by its own wall clock (a lease a dead node held
// must run out in real time), so it never follows Options.Now. Everything an
// attempt decides follows Options.Now: its row, the debtor's local time,
// promises, and when the account is due again (retry delays, call backs,
// requeues; the gate's next allowed time is on the gate's clock). A call's
// own timings (ring, answer, hang-up) are measured by its leg. In
// production the clocks are one; tests and simulations move Options.Now.
func leaseNow() time.Time { return time.Now() }

// SMSRequest asks for a templated message (the sms package's Request,
// without the import): at most one message per Key.
type SMSRequest struct {
	Key      string // idempotency key, e.g. "<attempt id>/fallback/0"
	Campaign string
	Account  string
	Phone    string // "" for the account's first phone that may be texted
	Template string
	Channel  analytics.Channel // sms or whatsapp
	Link     string            // the signed payment link, if the campaign has one
	Vars     map[string]string
	At       time.Time // when to send; zero for now
}

// Runner runs every started campaign of this node.
type Runner struct {
	opt      Options
	log      *slog.Logger
	contacts contact.Builder

	mu    sync.Mutex
	loops map[string]*loopRef
	calls sync.WaitGroup
	loopW sync.WaitGroup
	ctx   context.Context
	stop  context.CancelFunc
}

// New returns a runner; Resume starts what was running before a restart.
func New(opt Options) *Runner {
	if opt.Tick <= 0 {
		opt.Tick = 250 * time.Millisecond
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Promises == nil && opt.Store != nil {
		opt.Promises = promise.New(promise.Options{Redis: opt.Store.Client(), Store: opt.Store, Writer: opt.Writer, Node: opt.Node,
			Now: opt.Now, Logger: opt.Logger})
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Runner{opt: opt, log: opt.Logger, contacts: contact.Builder{Node: opt.Node, Now: opt.Now}, loops: map[string]*loopRef{},
		ctx: ctx, stop: cancel}
}

// loopRef is one campaign's loop, so a loop that ends itself removes only
// its own entry.
type loopRef struct{ cancel context.CancelFunc }

// ready says whether the runner may claim, dial and text now.
func (r *Runner) ready() error {
	if r.opt.Ready == nil {
		return nil
	}
	return r.opt.Ready()
}

// Start sets a campaign running (here and, through Redis, on restart).
func (r *Runner) Start(ctx context.Context, id string) error {
	c, err := r.opt.Store.Campaign(ctx, id)
	if err != nil {
		return err
	}
	if err := r.check(c); err != nil {
		return err
	}
	if err := r.opt.Store.SetStatus(ctx, id, queue.StatusRunning); err != nil {
		return err
	}
	r.launch(id)
	return nil
}

// check says why a campaign cannot run.
func (r *Runner) check(c queue.Campaign) error {
	if c.Mode != queue.ModeIVR {
		return fmt.Errorf("campaign %s: mode %s needs agents; only ivr campaigns run without them", c.ID, c.Mode)
	}
	if r.opt.Scripts[c.Script] == nil {
		return fmt.Errorf("campaign %s: script %q is not loaded", c.ID, c.Script)
	}
	t := r.opt.Trunks[c.Trunk]
	if t == nil {
		return fmt.Errorf("campaign %s: trunk %q is not configured", c.ID, c.Trunk)
	}
	// A definition stored before today's rules, or naming what the config
	// no longer has, is refused here rather than stalling.
	if err := c.Check(r.opt.Refs); err != nil {
		return err
	}
	return checkCallerID(c, t)
}

// checkCallerID refuses a campaign whose calls would go out without a
// caller id (the campaign's, else its trunk's): they never go out anonymous.
func checkCallerID(c queue.Campaign, t *dialer.Trunk) error {
	if c.CallerID == "" && t.CallerID == "" {
		return fmt.Errorf("campaign %s: no caller id: set caller_id on the campaign or on trunk %s", c.ID, t.Name)
	}
	if c.CallerID != "" {
		if err := dialer.CheckCallerID(c.CallerID); err != nil {
			return fmt.Errorf("campaign %s: caller_id: %w", c.ID, err)
		}
	}
	return nil
}

// Refs is what campaigns may name on this node (Options.Refs).
func (r *Runner) Refs() queue.CampaignRefs { return r.opt.Refs }

// Pause stops new calls; calls in progress finish.
func (r *Runner) Pause(ctx context.Context, id string) error {
	return r.halt(ctx, id, queue.StatusPaused)
}

// Stop is Pause that a restart does not undo either.
func (r *Runner) Stop(ctx context.Context, id string) error {
	return r.halt(ctx, id, queue.StatusStopped)
}

func (r *Runner) halt(ctx context.Context, id, status string) error {
	if _, err := r.opt.Store.Campaign(ctx, id); err != nil {
		return err
	}
	if err := r.opt.Store.SetStatus(ctx, id, status); err != nil {
		return err
	}
	r.mu.Lock()
	if l := r.loops[id]; l != nil {
		l.cancel()
		delete(r.loops, id)
	}
	r.mu.Unlock()
	r.log.Info("campaign halted", "campaign", id, "status", status)
	return nil
}

// Resume starts every campaign whose status is running (after a restart).
func (r *Runner) Resume(ctx context.Context) error {
	ids, err := r.opt.Store.CampaignIDs(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		st, err := r.opt.Store.Status(ctx, id)
		if err != nil {
			return err
		}
		if st == queue.StatusRunning {
			if c, err := r.opt.Store.Campaign(ctx, id); err == nil {
				if err := r.check(c); err != nil {
					r.log.Error("campaign not resumed: it cannot run as defined; fix it and start it again", "campaign", id, "err", err)
					continue
				}
			}
			r.log.Info("campaign resumed", "campaign", id)
			r.launch(id)
		}
	}
	return nil
}

// Close stops every loop and waits for the calls in progress.
func (r *Runner) Close() {
	r.stop()
	r.loopW.Wait()
	r.calls.Wait()
}

// Wait returns when no call of this runner is in progress.
func (r *Runner) Wait() { r.calls.Wait() }

// Running says whether a campaign's loop runs on this node.
func (r *Runner) Running(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loops[id] != nil
}

func (r *Runner) launch(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.loops[id] != nil {
		return
	}
	ctx, cancel := context.WithCancel(r.ctx)
	ref := &loopRef{cancel: cancel}
	r.loops[id] = ref
	r.loopW.Add(1)
	go func() {
		defer r.loopW.Done()
		r.loop(ctx, id)
		r.mu.Lock()
		if r.loops[id] == ref {
			delete(r.loops, id)
		}
		r.mu.Unlock()
		cancel()
	}()
}

// loop tops the campaign up to max_concurrent calls every tick.
func (r *Runner) loop(ctx context.Context, id string) {
	var inflight sync.WaitGroup
	var active int64
	var mu sync.Mutex
	tick := time.NewTicker(r.opt.Tick)
	defer tick.Stop()
	var noCallerID error // logged once while it lasts
	r.log.Info("campaign running", "campaign", id)
	failing := false // a Redis error is logged once per outage, not per tick
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if r.ready() != nil {
			continue // held: Redis lost its data (the guard logs it once)
		}
		c, err := r.opt.Store.Campaign(ctx, id)
		if errors.Is(err, queue.ErrNotFound) {
			// Deleted, or Redis emptied: nothing to dial until it is uploaded
			// and started again.
			attrs := []any{"campaign", id}
			if err := r.opt.Store.SetStatus(context.WithoutCancel(ctx), id, queue.StatusStopped); err != nil {
				attrs = append(attrs, "status_not_saved", err)
			}
			r.log.Error("campaign definition is gone from Redis: campaign stopped; upload it again and start it", attrs...)
			return
		}
		if err != nil {
			if !failing {
				r.log.Warn("campaign: read definition", "campaign", id, "err", err)
			}
			failing = true
			continue
		}
		failing = false
		trunk := r.opt.Trunks[c.Trunk]
		if trunk == nil {
			continue
		}
		// The definition may have changed since Start checked it.
		if err := checkCallerID(c, trunk); err != nil {
			if noCallerID == nil {
				r.log.Error("campaign: not dialing", "campaign", id, "err", err)
			}
			noCallerID = err
			continue
		}
		noCallerID = nil
		mu.Lock()
		free := int64(c.MaxConcurrent) - active
		mu.Unlock()
		if room := int64(trunk.MaxChannels() - trunk.InUse()); room < free {
			free = room
		}
		if free <= 0 {
			continue
		}
		leases, err := r.opt.Store.Claim(ctx, id, int(free), leaseNow())
		if err != nil {
			r.log.Warn("campaign: claim", "campaign", id, "err", err)
			continue
		}
		for _, l := range leases {
			mu.Lock()
			active++
			mu.Unlock()
			inflight.Add(1)
			r.calls.Add(1)
			go func() {
				defer r.calls.Done()
				defer inflight.Done()
				defer func() { mu.Lock(); active--; mu.Unlock() }()
				// A call in progress finishes even when the campaign pauses.
				if err := r.work(context.WithoutCancel(ctx), c, trunk, l); err != nil {
					r.log.Error("campaign: contact", "campaign", id, "account", l.Account.ID, "err", err)
				}
			}()
		}
	}
}

// work handles one claimed contact from the gate to the retry decision.
func (r *Runner) work(ctx context.Context, c queue.Campaign, trunk *dialer.Trunk, l queue.Lease) error {
	st, acct := r.opt.Store, l.Account
	// A contact whose call was in progress when a node died is not dialled
	// again at once: the attempt is recorded as interrupted and retried later.
	if prev, since, ok, err := st.WasInFlight(ctx, c.ID, acct.ID); err != nil {
		return err
	} else if ok {
		a := analytics.Attempt{AttemptID: prev, CampaignID: c.ID, AccountID: acct.ID, Channel: analytics.Voice, NodeID: r.opt.Node,
			StartedAt: since, EndedAt: r.opt.Now(), Disposition: analytics.Interrupted, Reason: "the node placing this call stopped", Ver: 1}
		if err := r.opt.Writer.Write(ctx, &a); err != nil {
			return err
		}
		st.CountDisposition(ctx, c.ID, a.Disposition)
		st.Landed(ctx, c.ID, acct.ID)
		return st.Reschedule(ctx, l, r.opt.Now().Add(retryDelay(c, analytics.NetworkError)), analytics.Interrupted)
	}
	n, err := st.NextAttempt(ctx, c.ID, acct.ID)
	if err != nil {
		return err
	}
	number, listed := contact.Pick(ctx, r.opt.Gate, c.ID, acct.Phones, analytics.Voice, n)
	a, subj, zones := r.newAttempt(c, acct, number, trunk.Name, n)
	if listed {
		a.Disposition, a.Reason, a.EndedAt = analytics.Blocked, "dnc: every phone of the account is on a voice do-not-contact list", a.StartedAt
		return r.settle(ctx, c, l, &a, time.Time{})
	}
	d, err := r.reserve(ctx, c, subj, &a)
	if err != nil {
		return err
	}
	if !d.Allowed {
		return r.settle(ctx, c, l, &a, d.NextAllowed)
	}
	if err := st.InFlight(ctx, c.ID, acct.ID, a.AttemptID, a.StartedAt); err != nil {
		return err
	}
	// Keep the lease while the call lasts.
	lease := l
	stopExtend, extended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(extended)
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopExtend:
				return
			case <-t.C:
				if err := st.Extend(ctx, &lease, leaseNow()); err != nil {
					r.log.Warn("campaign: extend lease", "account", acct.ID, "err", err)
				}
			}
		}
	}()
	res, err := r.call(ctx, c, trunk, acct, number, subj, zones, &a)
	close(stopExtend)
	<-extended
	if err != nil {
		return err
	}
	if err := r.record(ctx, c, acct, subj, &a, res, spoke(a, res)); err != nil {
		return err
	}
	if err := r.settleOutcome(ctx, c, lease, &a, res, len(acct.Phones) > 1); err != nil {
		return err
	}
	if a.Disposition != analytics.LocalError { // nothing happened that a text could follow up
		r.fallback(ctx, c, acct, &a)
	}
	return nil
}

// newAttempt starts the attempt row of call n to number and says who is
// called and in which zones, for the gate.
func (r *Runner) newAttempt(c queue.Campaign, acct queue.Account, number, trunk string, n int) (analytics.Attempt, compliance.Subject, []*time.Location) {
	at := r.contacts.Start(c, acct, number, analytics.Voice)
	at.Row.Trunk, at.Row.AttemptNo = trunk, uint16(n)
	return at.Row, at.Subject, at.Zones
}

// reserve asks the gate for a voice call; a refusal fills the attempt in
// as blocked.
func (r *Runner) reserve(ctx context.Context, c queue.Campaign, subj compliance.Subject, a *analytics.Attempt) (compliance.Decision, error) {
	profile, err := r.opt.Gate.Profile(c.Profile, subj)
	if err != nil {
		return compliance.Decision{}, err
	}
	d, err := r.opt.Gate.Reserve(ctx, profile, subj, analytics.Voice, a.AttemptID, false)
	if err != nil {
		return d, err
	}
	if !d.Allowed {
		a.Disposition, a.Reason, a.EndedAt = analytics.Blocked, d.Rule+": "+d.Reason, a.StartedAt
	}
	return d, nil
}

// spoke says someone answered and keyed: a contact and a conversation
// (also when the script failed later).
func spoke(a analytics.Attempt, res ivr.Result) bool {
	return (a.Disposition == analytics.Answered || a.Disposition == analytics.IVRError) && len(res.Path) > 0 && res.DTMF != ""
}

// CallRequest is one call outside a campaign's queue: an operator's test of
// a script on a real call (marcador call -script).
type CallRequest struct {
	Campaign, Account string
	Script            string // default the campaign's
	To                string // default the account's first phone
	Trunk             string // default the campaign's
	// SkipGate dials without asking the compliance gate (a lab number).
	SkipGate bool
}

// CallOnce places req's call and runs the script on answer, recording the
// attempt, its promise and opt-out as a campaign call would; the account's
// place in the queue is left alone.
func (r *Runner) CallOnce(ctx context.Context, req CallRequest) (analytics.Attempt, ivr.Result, error) {
	var res ivr.Result
	c, err := r.opt.Store.Campaign(ctx, req.Campaign)
	if err != nil {
		return analytics.Attempt{}, res, err
	}
	if req.Script != "" {
		c.Script = req.Script
	}
	if req.Trunk != "" {
		c.Trunk = req.Trunk
	}
	c.Mode = queue.ModeIVR
	if err := r.check(c); err != nil {
		return analytics.Attempt{}, res, err
	}
	acct, err := r.opt.Store.Account(ctx, c.ID, req.Account)
	if err != nil {
		return analytics.Attempt{}, res, err
	}
	number := req.To
	if number == "" {
		number = acct.Phones[0].Number
	}
	a, subj, zones := r.newAttempt(c, acct, number, c.Trunk, 1)
	if !req.SkipGate {
		d, err := r.reserve(ctx, c, subj, &a)
		if err != nil {
			return a, res, err
		}
		if !d.Allowed {
			a.Ver = 1
			return a, res, r.opt.Writer.Write(ctx, &a)
		}
	}
	res, err = r.call(ctx, c, r.opt.Trunks[c.Trunk], acct, number, subj, zones, &a)
	if err != nil {
		return a, res, err
	}
	if err := r.record(ctx, c, acct, subj, &a, res, spoke(a, res)); err != nil {
		return a, res, err
	}
	if a.EndedAt.IsZero() {
		a.EndedAt = r.opt.Now()
	}
	a.Ver = 1
	return a, res, r.opt.Writer.Write(ctx, &a)
}

// call dials and, on answer, runs the campaign's script.
func (r *Runner) call(ctx context.Context, c queue.Campaign, trunk *dialer.Trunk, acct queue.Account, number string,
	subj compliance.Subject, zones []*time.Location, a *analytics.Attempt) (ivr.Result, error) {
	var res ivr.Result
	leg, err := r.opt.Endpoint.Dial(ctx, dialer.DialRequest{Trunk: trunk, To: number, CallerID: c.CallerID,
		RingTimeout: time.Duration(c.RingTimeout)})
	if err != nil {
		a.Disposition, a.Reason, a.EndedAt = analytics.NetworkError, err.Error(), r.opt.Now()
		if errors.Is(err, dialer.ErrLocal) {
			// Nothing left this node, so nobody was contacted: the gate
			// gets its reservation back (a cap such as CL's one call a
			// week is not used up).
			a.Disposition = analytics.LocalError
			if _, rerr := r.opt.Gate.Release(ctx, subj, a.AttemptID); rerr != nil {
				return res, rerr
			}
		}
		return res, nil
	}
	select {
	case <-leg.Ended():
		leg.Result().ApplyTo(a)
		return res, nil
	default:
	}
	env := r.env(c, acct, number, a.AttemptID)
	if len(zones) > 0 {
		env.Zone = zones[0]
	}
	res, err = ivr.Run(ctx, leg.Session(), r.opt.Scripts[c.Script], env)
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	leg.Hangup(hctx).ApplyTo(a)
	a.IVRPath, a.DTMF = res.IVRPath(), res.DTMF
	if err != nil {
		// The debtor did not get the message: its own outcome, retried.
		a.Disposition, a.Reason = analytics.IVRError, err.Error()
		r.log.Error("campaign: script failed", "campaign", c.ID, "account", acct.ID, "err", err)
	}
	return res, nil
}

// env is what a script may do on call attempt of acct of campaign c at number.
func (r *Runner) env(c queue.Campaign, acct queue.Account, number, attempt string) ivr.Env {
	env := ivr.Env{Lang: contact.Language(c, acct), Account: acct, Now: r.opt.Now(), CallbackNumber: c.CallbackNumber, Library: r.opt.Library,
		Policy: policy(c),
		OptOut: func(ctx context.Context, ch string) error {
			return r.opt.Gate.AddDNC(ctx, compliance.DNCEntry{Phone: number, Channel: ch, Reason: "opted out in the IVR", Source: "ivr"})
		},
		SendSMS: func(ctx context.Context, tpl, ch string) error {
			return r.scriptSMS(ctx, c, acct, number, attempt, tpl, ch)
		}}
	return env
}

// sendSMS hands m to the SMS sender, or logs it when there is none.
func (r *Runner) sendSMS(ctx context.Context, m SMSRequest) error {
	if r.opt.SendSMS == nil {
		r.log.Info("sms requested (no SMS provider configured)", "campaign", m.Campaign, "account", m.Account,
			"template", m.Template, "channel", m.Channel, "link", m.Link)
		return nil
	}
	return r.opt.SendSMS(ctx, m)
}

// scriptSMS queues the text a script's sms node asks for on call attempt,
// once per attempt and template.
func (r *Runner) scriptSMS(ctx context.Context, c queue.Campaign, acct queue.Account, number, attempt, tpl, ch string) error {
	return r.sendSMS(ctx, SMSRequest{Key: attempt + "/ivr/" + tpl, Campaign: c.ID, Account: acct.ID, Phone: number,
		Template: tpl, Channel: analytics.Channel(ch), Link: r.link(c, acct)})
}

// fallback queues the campaign's messages that follow a voice attempt
// (sms.fallback), each once per attempt.
func (r *Runner) fallback(ctx context.Context, c queue.Campaign, acct queue.Account, a *analytics.Attempt) {
	for i, rule := range c.SMS.Fallback {
		if !rule.Matches(a.Disposition, int(a.AttemptNo)) {
			continue
		}
		m := SMSRequest{Key: fmt.Sprintf("%s/fallback/%d", a.AttemptID, i), Campaign: c.ID, Account: acct.ID, Phone: a.Phone,
			Template: rule.Template, Channel: rule.Channel, Link: r.link(c, acct), At: r.opt.Now().Add(time.Duration(rule.Delay))}
		if a.Disposition == analytics.InvalidNumber {
			m.Phone = "" // another of the account's phones, if it has one that may be texted
		}
		if err := r.sendSMS(ctx, m); err != nil {
			r.log.Error("campaign: fallback message not queued", "campaign", c.ID, "account", acct.ID, "template", rule.Template, "err", err)
			continue
		}
		r.log.Info("campaign: fallback message queued", "campaign", c.ID, "account", acct.ID, "after", a.Disposition,
			"template", rule.Template, "channel", rule.Channel)
	}
}

func policy(c queue.Campaign) ivr.Policy {
	return ivr.Policy{MaxDays: c.Promise.MaxDays, MinAmount: decimal.NewFromFloat(c.Promise.MinAmount),
		MinPercent: decimal.NewFromFloat(c.Promise.MinPercent)}
}

func (r *Runner) link(c queue.Campaign, acct queue.Account) string {
	return r.opt.Signer.Link(c.PayURL, acct.ID, c.ID)
}

// record writes the promise, if any, and feeds outcomes to the gate.
func (r *Runner) record(ctx context.Context, c queue.Campaign, acct queue.Account, subj compliance.Subject, a *analytics.Attempt, res ivr.Result, spoke bool) error {
	if p := res.Promise; p != nil {
		a.PromiseAmount, a.PromiseDate = p.Amount, p.Date
		if _, err := r.opt.Promises.Capture(ctx, promise.Record{Campaign: c.ID, Account: acct.ID, Attempt: a.AttemptID,
			Channel: analytics.PromiseIVR, Amount: p.Amount, Currency: acct.Currency, Due: p.Date, Grace: c.Promise.GraceDays,
			Created: r.opt.Now()}); err != nil {
			return err
		}
	}
	if spoke {
		for _, kind := range []string{compliance.KindContact, compliance.KindConversation} {
			if err := r.opt.Gate.Record(ctx, subj, analytics.Voice, kind, a.AttemptID, r.opt.Gate.Now()); err != nil {
				return err
			}
		}
	}
	if a.Disposition == analytics.InvalidNumber {
		return r.opt.Gate.AddDNC(ctx, compliance.DNCEntry{Phone: a.Phone, Channel: "all", Reason: analytics.InvalidNumber, Source: "dialer"})
	}
	return nil
}

// settleOutcome applies the retry policy: done after a promise, an opt-out,
// an answered call, an invalid only number, or the last attempt; otherwise
// due again after the delay for the disposition (the next attempt rotates to
// the account's next phone). A script error (ivr_error) is not an answered
// call: the debtor did not get the message, so it is retried like a busy line.
func (r *Runner) settleOutcome(ctx context.Context, c queue.Campaign, l queue.Lease, a *analytics.Attempt, res ivr.Result, otherPhones bool) error {
	if a.Disposition == analytics.LocalError {
		// Not an attempt: it does not count toward max_attempts, the same
		// phone is tried again, soon.
		if err := r.opt.Store.UndoAttempt(ctx, c.ID, l.Account.ID); err != nil {
			return err
		}
		return r.settle(ctx, c, l, a, r.opt.Now().Add(localRetryDelay(c)))
	}
	if res.Promise != nil || res.OptedOut {
		return r.settle(ctx, c, l, a, time.Time{})
	}
	if a.Disposition == analytics.InvalidNumber && !otherPhones {
		return r.settle(ctx, c, l, a, time.Time{}) // nothing left to dial
	}
	if a.Disposition == analytics.Answered {
		if _, again := c.Retry.Delays[analytics.Answered]; !again {
			return r.settle(ctx, c, l, a, time.Time{})
		}
	}
	if int(a.AttemptNo) >= c.Retry.MaxAttempts {
		return r.settle(ctx, c, l, a, time.Time{})
	}
	return r.settle(ctx, c, l, a, r.opt.Now().Add(retryDelay(c, a.Disposition)))
}

// localRetryDelay is when a call that was never placed is tried again:
// retry.delays.local_error, else a minute (ports and trunk channels free up
// quickly; the campaign's default delay is for calls that happened).
func localRetryDelay(c queue.Campaign) time.Duration {
	if d := c.Retry.Delays[analytics.LocalError]; d > 0 {
		return time.Duration(d)
	}
	return time.Minute
}

func retryDelay(c queue.Campaign, disposition string) time.Duration {
	d, ok := c.Retry.Delays[disposition]
	if !ok {
		d = c.Retry.Delays["default"]
	}
	if d == 0 {
		return time.Hour
	}
	return time.Duration(d)
}

// settle writes the attempt, counts it, and completes the lease (zero
// next) or reschedules it.
func (r *Runner) settle(ctx context.Context, c queue.Campaign, l queue.Lease, a *analytics.Attempt, next time.Time) error {
	if a.EndedAt.IsZero() {
		a.EndedAt = r.opt.Now()
	}
	a.Ver = 1
	if err := r.opt.Writer.Write(ctx, a); err != nil {
		return err
	}
	st := r.opt.Store
	if err := st.CountDisposition(ctx, c.ID, a.Disposition); err != nil {
		return err
	}
	var err error
	if next.IsZero() {
		err = st.Complete(ctx, l, leaseNow())
	} else {
		err = st.Reschedule(ctx, l, next, a.Disposition)
	}
	if errors.Is(err, queue.ErrLeaseLost) {
		r.log.Warn("campaign: lease lost before the outcome was saved", "account", l.Account.ID)
		err = nil
	}
	if lerr := st.Landed(ctx, c.ID, l.Account.ID); err == nil {
		err = lerr
	}
	r.log.Info("attempt", "campaign", c.ID, "account", a.AccountID, "phone", a.Phone, "disposition", a.Disposition,
		"ivr_path", a.IVRPath, "promise", a.PromiseAmount.String())
	return err
}
