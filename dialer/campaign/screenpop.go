package campaign

import (
	"context"
	"sync"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/promise"
)

// ScreenPop is what an agent's screen shows when a call connects (the data
// of a "call" event on GET /api/v1/agents/{id}/events).
type ScreenPop struct {
	Call     string     `json:"call"`
	Campaign string     `json:"campaign"`
	Phone    string     `json:"phone"` // the number called
	Account  PopAccount `json:"account"`
	// LastAttempts are the account's latest attempts in the campaign,
	// newest first (from ClickHouse: an attempt still in a node's spool is
	// not there yet).
	LastAttempts []PopAttempt `json:"last_attempts"`
	OpenPromises []PopPromise `json:"open_promises"`
	// Codes are the dispositions the agent may send.
	Codes []string `json:"codes"`
	// FromIVR: the debtor asked for an agent in the IVR.
	FromIVR bool `json:"from_ivr,omitempty"`
	// HistoryError says why attempts or promises are missing.
	HistoryError string `json:"history_error,omitempty"`
}

// PopAccount is the debtor's account on the screen.
type PopAccount struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Balance     string            `json:"balance"`
	Currency    string            `json:"currency"`
	DaysPastDue int               `json:"days_past_due"`
	DueDate     string            `json:"due_date,omitempty"`
	Segment     string            `json:"segment,omitempty"`
	Phones      []string          `json:"phones"`
	Fields      map[string]string `json:"fields,omitempty"`
}

// PopAttempt is one past attempt on the screen.
type PopAttempt struct {
	At          time.Time `json:"at"`
	Channel     string    `json:"channel"`
	Phone       string    `json:"phone"`
	Disposition string    `json:"disposition"`
	TalkS       float64   `json:"talk_s,omitempty"`
	Agent       string    `json:"agent,omitempty"`
	Code        string    `json:"code,omitempty"`
	Promise     string    `json:"promise,omitempty"` // "1500.00 MXN on 2026-12-01"
}

// PopPromise is one open promise on the screen.
type PopPromise struct {
	ID       string `json:"id"`
	Amount   string `json:"amount"`
	Paid     string `json:"paid"`
	Currency string `json:"currency"`
	Due      string `json:"due"`
	Channel  string `json:"channel"`
}

// popHistory is what the screen pop reads besides the account.
type popHistory struct {
	attempts []analytics.Attempt
	promises []promise.Record
	err      error
}

// prefetch reads the account's history while the call waits for an agent.
func (lc *liveCall) prefetch(ctx context.Context) {
	r := lc.r
	if r.opt.Desk == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), popWait)
		defer cancel()
		lc.history <- r.readHistory(ctx, lc.c.ID, lc.acct.ID)
	}()
}

// readHistory reads what a screen pop shows of an account's past.
func (r *Runner) readHistory(ctx context.Context, campaign, account string) popHistory {
	var h popHistory
	if r.opt.History != nil {
		h.attempts, h.err = r.opt.History.AccountAttempts(ctx, campaign, account, 5, r.opt.Now())
	}
	if r.opt.Promises != nil {
		var err error
		if h.promises, err = r.opt.Promises.Open(ctx, account); err != nil && h.err == nil {
			h.err = err
		}
	}
	return h
}

// screenPop builds the pop, with what the prefetch found within popWait.
func (lc *liveCall) screenPop(ctx context.Context) ScreenPop {
	t := time.NewTimer(popWait)
	defer t.Stop()
	var h popHistory
	select {
	case h = <-lc.history:
	case <-t.C:
		h.err = context.DeadlineExceeded
	case <-ctx.Done():
		h.err = ctx.Err()
	}
	p := buildPop(lc.c, lc.acct, lc.number, lc.id, h)
	p.FromIVR = lc.fromIVR
	return p
}

// buildPop is the screen of call id of campaign c to acct at number, with
// the account's history h: a screen pop, and a preview agent's next
// account (preview.go).
func buildPop(c queue.Campaign, a queue.Account, number, id string, h popHistory) ScreenPop {
	p := ScreenPop{Call: id, Campaign: c.ID, Phone: number, Codes: c.CodeNames(),
		Account: PopAccount{ID: a.ID, Name: a.Name, Balance: a.Balance.StringFixed(2), Currency: a.Currency,
			DaysPastDue: a.DaysPastDue, DueDate: a.DueDate, Segment: a.Segment, Fields: a.Fields},
		LastAttempts: []PopAttempt{}, OpenPromises: []PopPromise{}}
	for _, ph := range a.Phones {
		p.Account.Phones = append(p.Account.Phones, ph.Number)
	}
	if h.err != nil {
		p.HistoryError = "history not available: " + h.err.Error()
	}
	for _, x := range h.attempts {
		pa := PopAttempt{At: x.StartedAt, Channel: string(x.Channel), Phone: x.Phone, Disposition: x.Disposition,
			TalkS: float64(x.TalkMS) / 1000, Agent: x.AgentID, Code: x.AgentCode}
		if x.PromiseAmount.IsPositive() {
			pa.Promise = x.PromiseAmount.StringFixed(2) + " " + x.Currency + " on " + x.PromiseDate.Format(time.DateOnly)
		}
		p.LastAttempts = append(p.LastAttempts, pa)
	}
	for _, x := range h.promises {
		p.OpenPromises = append(p.OpenPromises, PopPromise{ID: x.ID, Amount: x.Amount.StringFixed(2), Paid: x.Paid.StringFixed(2),
			Currency: x.Currency, Due: x.Due.Format(time.DateOnly), Channel: string(x.Channel)})
	}
	return p
}

// deskQueue publishes one call's screen events in order, off the call's
// path (a slow Redis never holds a bridge).
type deskQueue struct {
	lc   *liveCall
	ch   chan func(context.Context)
	done chan struct{}

	mu      sync.Mutex // guards ch against a send after close (a digit late off the relay)
	closed  bool
	agentID string // whom the events are for, from the screen pop on
}

func (r *Runner) newDeskQueue(lc *liveCall) *deskQueue {
	if r.opt.Desk == nil {
		return nil
	}
	q := &deskQueue{lc: lc, ch: make(chan func(context.Context), 32), done: make(chan struct{})}
	go func() {
		defer close(q.done)
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		for f := range q.ch {
			f(ctx)
		}
	}()
	return q
}

func (q *deskQueue) publish(ctx context.Context, agentID, kind string, data any) {
	if _, err := q.lc.r.opt.Desk.Publish(ctx, agentID, kind, q.lc.id, data); err != nil {
		q.lc.log.Warn("campaign: screen event not published", "event", kind, "agent", agentID, "err", err)
	}
}

// enqueue queues an event of kind with the data f makes; wait says whether
// to wait for room (the call's own path) or drop it when the queue is full
// (the relay's). setAgent names the agent the events are for from now.
func (q *deskQueue) enqueue(kind string, f func(context.Context) any, wait bool, setAgent string) {
	if wait {
		q.mu.Lock()
	} else if !q.mu.TryLock() {
		return // the call's path is waiting for room: the relay never waits
	}
	defer q.mu.Unlock()
	if setAgent != "" {
		q.agentID = setAgent
	}
	if q.closed || q.agentID == "" {
		return
	}
	a := q.agentID
	g := func(ctx context.Context) { q.publish(ctx, a, kind, f(ctx)) }
	if wait {
		q.ch <- g
		return
	}
	select {
	case q.ch <- g:
	default:
	}
}

// pop queues the screen pop for the agent reserved for the call.
func (q *deskQueue) pop(agentID string) {
	if q == nil {
		return
	}
	q.enqueue(agent.DeskCall, func(ctx context.Context) any { return q.lc.screenPop(ctx) }, true, agentID)
}

// send queues an event for the call's agent.
func (q *deskQueue) send(_ context.Context, kind string, data any) {
	if q == nil {
		return
	}
	q.enqueue(kind, func(context.Context) any { return data }, true, "")
}

// trySend is send for the relay's receive path: it never blocks (a full
// queue, or one being filled, drops the event).
func (q *deskQueue) trySend(kind string, data any) {
	if q == nil {
		return
	}
	q.enqueue(kind, func(context.Context) any { return data }, false, "")
}

// close lets the queued events go out, then stops.
func (q *deskQueue) close() {
	if q == nil {
		return
	}
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
	q.mu.Unlock()
	select {
	case <-q.done:
	case <-time.After(5 * time.Second):
	}
}
