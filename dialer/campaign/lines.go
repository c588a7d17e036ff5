package campaign

import (
	"sync"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/dialer/pacing"
	"github.com/marcador/marcador/ivr"
)

// lines are a campaign loop's calls as its pacer sees them: the calls in
// flight (claimed, not answered yet) with the time since their INVITE,
// the answered ones still holding a line (an agent campaign's calls
// waiting for an agent, an IVR campaign's sessions), an IVR campaign's
// transfers waiting for an agent, and the outcomes the pacer learns from
// (pacing.Event), queued by the calls' goroutines and drained by the
// loop's tick. Times are on the runner's clock (Options.Now).
type lines struct {
	now func() time.Time

	mu       sync.Mutex
	ringing  map[*line]struct{}
	live     int // answered by a person, holding a line
	machines int // answered by a machine, holding a line
	xfer     int // an IVR session's transfer waiting for an agent
	unsent   int // claimed calls that ended without an INVITE since the last tick
	events   []pacing.Event
}

func newLines(now func() time.Time) *lines {
	return &lines{now: now, ringing: map[*line]struct{}{}}
}

// Line states.
const (
	lineRinging = iota
	lineLive    // a person answered: waiting for an agent, or in the IVR
	lineMachine // a machine answered: hearing the message
	lineDone
)

// line is one call's place in its loop's lines.
type line struct {
	n              *lines
	st             int       // under n.mu
	sent           time.Time // the INVITE went out; zero until then
	answerAt       time.Time
	revisedMachine bool // AMD took the person's answer back as a machine's
}

// add counts a claimed contact as a call in flight (nil without lines, as
// for a one-off call).
func (ls *lines) add() *line {
	if ls == nil {
		return nil
	}
	l := &line{n: ls}
	ls.mu.Lock()
	ls.ringing[l] = struct{}{}
	ls.mu.Unlock()
	return l
}

func (ls *lines) learn(kind pacing.EventKind, at time.Time, d time.Duration) {
	ls.events = append(ls.events, pacing.Event{Kind: kind, At: at, Duration: max(d, 0)})
}

// sending: the INVITE goes out now. A call's ring time runs from here;
// before it (the compliance gate) the call rings for 0 s.
func (l *line) sending() {
	if l == nil {
		return
	}
	l.n.mu.Lock()
	l.sent = l.n.now()
	l.n.mu.Unlock()
}

// notSent: nothing left this node after all (a local error), so there is
// no outcome to learn.
func (l *line) notSent() {
	if l == nil {
		return
	}
	l.n.mu.Lock()
	l.sent = time.Time{}
	l.n.mu.Unlock()
}

// answered: a person answered. An agent campaign's call now waits for an
// agent, an IVR campaign's runs its session; the pacer learns a live
// answer after the ring time. (With answering-machine detection, call it
// once the detector says human, and machine when it says machine.)
func (l *line) answered() { l.answer(lineLive, pacing.AnsweredLive) }

// machine: an answering machine answered (AMD); the pacer learns the
// machine share and ring time. The call no longer waits for an agent; in
// an IVR campaign it still holds a session (the message).
func (l *line) machine() { l.answer(lineMachine, pacing.AnsweredMachine) }

func (l *line) answer(st int, kind pacing.EventKind) {
	if l == nil {
		return
	}
	n := l.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if l.st != lineRinging {
		return
	}
	delete(n.ringing, l)
	l.st, l.answerAt = st, n.now()
	if st == lineLive {
		n.live++
	} else {
		n.machines++
	}
	if !l.sent.IsZero() {
		n.learn(kind, l.answerAt, l.answerAt.Sub(l.sent))
	}
}

// done: the call holds no line any more (an agent took it, it was
// abandoned, or it ended). A call that ends unanswered after its INVITE
// teaches the pacer a call nobody answered; one that ends without an
// INVITE (the gate blocked it, a local error) gives the pacer its calls
// per second back (unplaced).
func (l *line) done() {
	if l == nil {
		return
	}
	n := l.n
	n.mu.Lock()
	defer n.mu.Unlock()
	switch l.st {
	case lineRinging:
		delete(n.ringing, l)
		if l.sent.IsZero() {
			n.unsent++
		} else {
			now := n.now()
			n.learn(pacing.NotAnswered, now, now.Sub(l.sent))
		}
	case lineLive:
		n.live--
	case lineMachine:
		n.machines--
	}
	l.st = lineDone
}

// revised: a call answered as a person's was a machine (AMD revised it on
// its beep) that held an agent or a session meanwhile. A line it still
// holds is a machine's; settled teaches nothing of its talk. The live
// answer the pacer learned stays learned (pacing has no event to take it
// back): the campaign's shared day counts, which the abandon window reads,
// are corrected instead (Pool.Revise).
func (l *line) revised() {
	if l == nil {
		return
	}
	n := l.n
	n.mu.Lock()
	defer n.mu.Unlock()
	l.revisedMachine = true
	if l.st == lineLive {
		n.live--
		n.machines++
		l.st = lineMachine
	}
}

// waitingAgent: an IVR session asks for an agent (true) or stops asking
// (false): the agentless pacer holds back while transfers wait.
func (l *line) waitingAgent(on bool) {
	if l == nil {
		return
	}
	l.n.mu.Lock()
	if on {
		l.n.xfer++
	} else {
		l.n.xfer--
	}
	l.n.mu.Unlock()
}

// settled teaches the pacer what became of an answered call once its
// attempt is settled: an agent call connected or abandoned, its talk and
// wrap-up times; an IVR session's length, or its transfer to an agent.
func (l *line) settled(a *analytics.Attempt, g *agentCall, res ivr.Result) {
	if l == nil || l.answerAt.IsZero() || l.revisedMachine {
		return
	}
	n := l.n
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	ms := func(v uint32) time.Duration { return time.Duration(v) * time.Millisecond }
	var connected bool
	if g != nil && !g.lc.connected.IsZero() {
		connected = true
		if res.Transferred { // from the IVR to an agent
			n.learn(pacing.Transferred, now, g.lc.connected.Sub(l.answerAt))
		}
		n.learn(pacing.TalkEnded, now, ms(a.TalkMS))
		if !g.lc.wrapEnd.IsZero() {
			n.learn(pacing.WrapEnded, now, ms(a.WrapMS))
		}
	}
	switch {
	case a.Abandoned:
		n.learn(pacing.Abandoned, now, 0)
	case connected && g.lc.fromIVR:
	case connected:
		n.learn(pacing.Connected, now, 0)
	case g == nil && l.st != lineMachine || g != nil && g.lc.fromIVR:
		n.learn(pacing.SessionEnded, now, now.Sub(l.answerAt))
	}
}

// unplaced is how many claimed calls ended without an INVITE since the
// last call.
func (ls *lines) unplaced() int {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	n := ls.unsent
	ls.unsent = 0
	return n
}

// counts are the loop's lines now, and the calls in flight appended to
// dst[:0] with their ring time so far; the events queued since the last
// call are handed to observe (under the lock, in order).
func (ls *lines) counts(now time.Time, dst []pacing.Call, observe func(pacing.Event)) (calls []pacing.Call, live, machines, xfer int) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	calls = dst[:0]
	for l := range ls.ringing {
		var rung time.Duration
		if !l.sent.IsZero() {
			rung = max(now.Sub(l.sent), 0)
		}
		calls = append(calls, pacing.Call{Ringing: rung})
	}
	for _, ev := range ls.events {
		observe(ev)
	}
	clear(ls.events)
	ls.events = ls.events[:0]
	return calls, ls.live, ls.machines, ls.xfer
}
