package campaign

// Preview campaigns ("mode":"preview"): the agent sees the next account
// before any call and places it, or skips it. The pacer never dials for
// them (Campaign.Paced).
//
//   - Next claims one account through the dialer's own path (queue's Claim,
//     then prepare: the in-flight check, the phone, the compliance gate's
//     reservation) and leases it to the agent: marcador:{C}:preview, hash
//     agent → previewLease. A repeated Next shows the same account until
//     the agent dials or skips it or the queue lease runs out.
//   - Dial goes to the node holding the agent's leg (Calls.DoOn), which
//     reserves that agent for the call, dials, and on answer bridges
//     through the agent-call code of progressive campaigns (place, call,
//     liveCall); no answer or busy settles the attempt as usual and the
//     agent is ready again.
//   - Skip gives the account back to the queue, due again after
//     retry.delays.skipped (else the campaign's default delay); the gate's
//     reservation and the attempt number are taken back: a skip is not a
//     contact attempt, so it writes no attempt row. It is logged and
//     counted by reason (marcador:{C}:preview_skips).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/queue"
)

const opPreviewDial = "preview_dial"

// skipDelayKey is the retry delay a skipped account waits
// (retry.delays.skipped).
const skipDelayKey = "skipped"

// ErrNothingDue: no account of the preview campaign may be called now.
var ErrNothingDue = errors.New("nothing due")

// previewLease is an account leased to a preview agent: the queue's lease,
// the attempt begun at claim (the gate reserved it under its id) and the
// number picked.
type previewLease struct {
	Account   string `json:"account"`
	Token     string `json:"token"`
	Expires   int64  `json:"expires"` // the queue lease's end, ms
	Attempt   string `json:"attempt"`
	AttemptNo int    `json:"attempt_no"`
	Number    string `json:"number"`
}

func previewKey(campaign string) string { return "marcador:{" + campaign + "}:preview" }
func skipsKey(campaign string) string   { return "marcador:{" + campaign + "}:preview_skips" }

// takeLeaseScript deletes an agent's preview lease if it is still the one
// read (a dial and a skip racing: one wins). KEYS: preview. ARGV: agent,
// lease JSON.
var takeLeaseScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
return redis.call('HDEL', KEYS[1], ARGV[1])
`)

// Preview is a preview agent's next account (GET /api/v1/agents/{id}/next).
type Preview struct {
	Agent string `json:"agent"`
	// Call is the attempt id the call will have once dialled.
	Call    string    `json:"call"`
	Expires time.Time `json:"expires_at"` // the lease's end: dial or skip before
	Screen  ScreenPop `json:"screen"`
}

// Skip is why a preview agent passes an account (a code such as
// wrong_time or needs_review).
type Skip struct {
	Reason string `json:"reason"`
}

// Skipped answers a skip.
type Skipped struct {
	Agent    string    `json:"agent"`
	Campaign string    `json:"campaign"`
	Account  string    `json:"account"`
	Reason   string    `json:"reason"`
	DueAt    time.Time `json:"due_at"`
}

// previewAgent reads a logged-in agent of a preview campaign.
func (r *Runner) previewAgent(ctx context.Context, id string) (agent.Status, queue.Campaign, error) {
	if r.opt.Agents == nil || r.agentCalls == nil {
		return agent.Status{}, queue.Campaign{}, ErrNoAgents
	}
	st, err := r.opt.Agents.Pool().Status(ctx, id)
	if err != nil {
		return st, queue.Campaign{}, err
	}
	if st.State == agent.LoggedOut {
		return st, queue.Campaign{}, conflict("agent %s is logged out", id)
	}
	c, err := r.opt.Store.Campaign(ctx, st.Campaign)
	if err != nil {
		return st, c, err
	}
	if c.Mode != queue.ModePreview {
		return st, c, conflict("agent %s works campaign %s, which is %s: its calls come from the dialer", id, c.ID, c.Mode)
	}
	return st, c, nil
}

func notReady(st agent.Status) error {
	return conflict("agent %s is %s: an account is previewed, dialled or skipped by a ready agent", st.Agent, st.State)
}

// leaseOf reads the account leased to agent id, with its raw value (for
// takeLease).
func (r *Runner) leaseOf(ctx context.Context, campaign, id string) (previewLease, string, bool, error) {
	raw, err := r.opt.Store.Client().HGet(ctx, previewKey(campaign), id).Result()
	if errors.Is(err, redis.Nil) {
		return previewLease{}, "", false, nil
	}
	if err != nil {
		return previewLease{}, "", false, fmt.Errorf("campaign %s: read the preview lease of agent %s: %w", campaign, id, err)
	}
	var pl previewLease
	if err := json.Unmarshal([]byte(raw), &pl); err != nil {
		return pl, raw, true, fmt.Errorf("campaign %s: decode the preview lease of agent %s: %w", campaign, id, err)
	}
	return pl, raw, true, nil
}

// takeLease removes agent id's lease if it is still raw: false when a
// concurrent dial or skip took it first.
func (r *Runner) takeLease(ctx context.Context, campaign, id, raw string) (bool, error) {
	n, err := takeLeaseScript.Run(ctx, r.opt.Store.Client(), []string{previewKey(campaign)}, id, raw).Int()
	if err != nil {
		return false, fmt.Errorf("campaign %s: take the preview lease of agent %s: %w", campaign, id, err)
	}
	return n == 1, nil
}

// PreviewNext shows ready agent id the account leased to it, claiming the
// next one when it has none (ErrNothingDue when none may be called now).
func (r *Runner) PreviewNext(ctx context.Context, id string) (Preview, error) {
	st, c, err := r.previewAgent(ctx, id)
	if err != nil {
		return Preview{}, err
	}
	if st.State != agent.Ready {
		return Preview{}, notReady(st)
	}
	if err := r.ready(); err != nil {
		return Preview{}, err
	}
	if s, err := r.opt.Store.Status(ctx, c.ID); err != nil {
		return Preview{}, err
	} else if s != queue.StatusRunning {
		return Preview{}, conflict("campaign %s is not running (%s)", c.ID, s)
	}
	pl, raw, ok, err := r.leaseOf(ctx, c.ID, id)
	if err != nil && !ok {
		return Preview{}, err
	}
	if ok && err == nil && pl.Expires > leaseNow().UnixMilli() {
		return r.showPreview(ctx, c, id, pl)
	}
	if ok {
		if took, err := r.takeLease(ctx, c.ID, id, raw); err != nil {
			return Preview{}, err
		} else if took && err == nil {
			r.giveBack(ctx, c, pl, leaseNow(), "the preview lease ran out")
		}
	}
	pl, err = r.claimPreview(ctx, c, id)
	if err != nil {
		return Preview{}, err
	}
	return r.showPreview(ctx, c, id, pl)
}

// maxPreviewClaims bounds how many blocked accounts one Next settles
// before it gives up for now.
const maxPreviewClaims = 20

// claimPreview claims the campaign's next account that the gate lets
// through and leases it to agent id.
func (r *Runner) claimPreview(ctx context.Context, c queue.Campaign, id string) (previewLease, error) {
	for range maxPreviewClaims {
		ls, err := r.opt.Store.Claim(ctx, c.ID, 1, leaseNow())
		if err != nil {
			return previewLease{}, err
		}
		if len(ls) == 0 {
			return previewLease{}, fmt.Errorf("campaign %s: %w", c.ID, ErrNothingDue)
		}
		l := ls[0]
		p, err := r.prepare(ctx, c, c.Trunk, l)
		if err != nil {
			return previewLease{}, err
		}
		if p == nil {
			continue // blocked and settled: the next one
		}
		pl := previewLease{Account: l.Account.ID, Token: l.Token, Expires: l.Expires.UnixMilli(), Attempt: p.a.AttemptID,
			AttemptNo: int(p.a.AttemptNo), Number: p.number}
		b, _ := json.Marshal(pl)
		set, err := r.opt.Store.Client().HSetNX(ctx, previewKey(c.ID), id, b).Result()
		if err != nil || !set {
			// A concurrent Next of the same agent leased one first: show
			// that one, and give this one back.
			r.giveBack(ctx, c, pl, leaseNow(), "a concurrent preview of the same agent")
			if err != nil {
				return previewLease{}, fmt.Errorf("campaign %s: lease account %s to agent %s: %w", c.ID, l.Account.ID, id, err)
			}
			pl, _, ok, err := r.leaseOf(ctx, c.ID, id)
			if err == nil && !ok {
				err = conflict("agent %s: its preview lease was taken meanwhile; ask again", id)
			}
			return pl, err
		}
		r.log.Info("campaign: account leased to a preview agent", "campaign", c.ID, "agent", id, "account", pl.Account,
			"call", pl.Attempt, "until", l.Expires)
		return pl, nil
	}
	return previewLease{}, fmt.Errorf("campaign %s: %d accounts in a row were blocked: %w", c.ID, maxPreviewClaims, ErrNothingDue)
}

// showPreview is the screen of an account leased to agent id: what a
// screen pop shows.
func (r *Runner) showPreview(ctx context.Context, c queue.Campaign, id string, pl previewLease) (Preview, error) {
	acct, err := r.opt.Store.Account(ctx, c.ID, pl.Account)
	if err != nil {
		return Preview{}, err
	}
	hctx, cancel := context.WithTimeout(ctx, popWait)
	defer cancel()
	h := r.readHistory(hctx, c.ID, acct.ID)
	return Preview{Agent: id, Call: pl.Attempt, Expires: time.UnixMilli(pl.Expires), Screen: buildPop(c, acct, pl.Number, pl.Attempt, h)}, nil
}

// giveBack returns a leased account that was not dialled to the queue,
// due at at: the gate's reservation and the attempt number are taken back
// (nobody was called). A lease another claim took meanwhile stays its.
func (r *Runner) giveBack(ctx context.Context, c queue.Campaign, pl previewLease, at time.Time, why string) {
	ctx = context.WithoutCancel(ctx)
	acct, err := r.opt.Store.Account(ctx, c.ID, pl.Account)
	var errs []error
	if err == nil {
		_, subj, _ := r.newAttempt(c, acct, pl.Number, c.Trunk, pl.AttemptNo)
		if _, err := r.opt.Gate.Release(ctx, subj, pl.Attempt); err != nil {
			errs = append(errs, err)
		}
	} else {
		errs = append(errs, err)
		acct.ID = pl.Account
	}
	if err := r.opt.Store.UndoAttempt(ctx, c.ID, pl.Account); err != nil {
		errs = append(errs, err)
	}
	l := queue.Lease{Campaign: c.ID, Account: acct, Token: pl.Token, Expires: time.UnixMilli(pl.Expires)}
	if err := r.opt.Store.Reschedule(ctx, l, at, why); err != nil && !errors.Is(err, queue.ErrLeaseLost) {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		r.log.Warn("campaign: preview account not fully given back", "campaign", c.ID, "account", pl.Account, "why", why, "err", err)
	}
}

// PreviewSkip gives back the account leased to agent id.
func (r *Runner) PreviewSkip(ctx context.Context, id string, s Skip) (Skipped, error) {
	if s.Reason == "" {
		return Skipped{}, invalid("reason", "required: a code such as wrong_time or needs_review")
	}
	if err := agent.CheckCode("reason", s.Reason); err != nil {
		var fe *agent.FieldError
		if errors.As(err, &fe) {
			return Skipped{}, invalid("reason", fe.Reason)
		}
		return Skipped{}, err
	}
	st, c, err := r.previewAgent(ctx, id)
	if err != nil {
		return Skipped{}, err
	}
	pl, raw, ok, err := r.leaseOf(ctx, c.ID, id)
	if err != nil && !ok {
		return Skipped{}, err
	}
	if !ok {
		return Skipped{}, conflict("no account is leased to agent %s (%s): GET next first", id, st.State)
	}
	if took, err := r.takeLease(ctx, c.ID, id, raw); err != nil {
		return Skipped{}, err
	} else if !took {
		return Skipped{}, conflict("the account leased to agent %s was dialled or skipped meanwhile", id)
	}
	at := r.opt.Now().Add(retryDelay(c.Retry, skipDelayKey))
	r.giveBack(ctx, c, pl, at, "skipped by agent "+id+": "+s.Reason)
	if err := r.opt.Store.Client().HIncrBy(ctx, skipsKey(c.ID), s.Reason, 1).Err(); err != nil {
		r.log.Warn("campaign: preview skip not counted", "campaign", c.ID, "err", err)
	}
	r.log.Info("campaign: preview account skipped", "campaign", c.ID, "agent", id, "account", pl.Account, "reason", s.Reason,
		"due_at", at)
	return Skipped{Agent: id, Campaign: c.ID, Account: pl.Account, Reason: s.Reason, DueAt: at}, nil
}

// PreviewSkips counts a campaign's preview skips by reason.
func (r *Runner) PreviewSkips(ctx context.Context, campaign string) (map[string]int64, error) {
	m, err := r.opt.Store.Client().HGetAll(ctx, skipsKey(campaign)).Result()
	if err != nil {
		return nil, fmt.Errorf("campaign %s: read preview skips: %w", campaign, err)
	}
	out := make(map[string]int64, len(m))
	for k, v := range m {
		var n int64
		fmt.Sscan(v, &n)
		out[k] = n
	}
	return out, nil
}
