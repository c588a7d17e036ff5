// Package campaign runs campaigns: it claims due contacts, asks the
// compliance gate, dials them within the trunk's limits (an ivr campaign
// within its concurrency, an agent campaign for the ready agents this node
// holds), runs the campaign's script on answer or bridges the debtor to an
// agent, records every attempt and promise, and applies the retry policy.
package campaign

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/dialer/pacing"
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
	// Agents holds this node's agents' nailed-up legs (agent.Station). With
	// it the runner dials progressive and predictive campaigns for the
	// agents it holds, bridges their answered calls, takes actions on them
	// from any node (Calls) and lets IVR transfer nodes reach agents;
	// without it only ivr campaigns run. See agents.go.
	Agents *agent.Station
	// Desk carries screen pops to agents' screens; optional.
	Desk *agent.Desk
	// History gives a screen pop the account's last attempts; optional.
	History History
	// RecordingsDir is where campaigns with record: true write their agent
	// calls (recordings.dir); such campaigns do not start without it.
	RecordingsDir string
	// Ready, when set, is asked before every claim: an error (Redis lost
	// its data, see queue/epoch) holds the runner, which then claims, dials
	// and texts nothing until it is nil again.
	Ready func() error
	// Refs is what a campaign may name on this node; Start re-checks a
	// stored definition against it (and Normalize's rules).
	Refs queue.CampaignRefs
	// Tick is how often a running campaign's pacer decides; default 250ms.
	Tick time.Duration
	// Predictive tunes agent campaigns' predictive pacers (zero: the
	// pacer's defaults); the patience and compliance window come from each
	// campaign.
	Predictive pacing.PredictiveConfig
	// Now is the attempts' clock (see leaseNow for the leases'); default
	// time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

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

	mu         sync.Mutex
	loops      map[string]*loopRef
	live       map[string]*liveCall         // agent calls this node holds, by attempt id
	previews   map[string]agent.Reservation // preview calls ringing, by attempt id: their agents
	freed      chan struct{}                // closed when an agent of this node may have come free (agentFreed)
	agentCalls *agent.Calls
	recErrors  atomic.Int64
	calls      sync.WaitGroup
	loopW      sync.WaitGroup
	ctx        context.Context
	stop       context.CancelFunc
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
	r := &Runner{opt: opt, log: opt.Logger, contacts: contact.Builder{Node: opt.Node, Now: opt.Now}, loops: map[string]*loopRef{},
		live: map[string]*liveCall{}, previews: map[string]agent.Reservation{}, ctx: ctx, stop: cancel}
	r.startCalls()
	return r
}

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
	if c.HasAgents() {
		if err := r.checkAgents(c); err != nil {
			return err
		}
	} else if c.Mode != queue.ModeIVR {
		return fmt.Errorf("campaign %s: mode %q cannot run", c.ID, c.Mode)
	}
	if r.opt.Scripts[c.Script] == nil {
		return fmt.Errorf("campaign %s: script %q is not loaded", c.ID, c.Script)
	}
	if err := r.checkAMD(c); err != nil {
		return err
	}
	// Whatever the refs say (a tool's, a test's): no call plays a script
	// that discloses to whoever answers.
	if err := c.CheckDisclosure(Disclosures(r.opt.Scripts)); err != nil {
		return err
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
