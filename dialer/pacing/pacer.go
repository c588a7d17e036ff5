package pacing

import (
	"math"
	"time"
)

// census counts a snapshot's agents and lines once per tick.
type census struct {
	ready    int // Ready
	busy     int // Reserved, Talking or Wrap, and coming back to Ready
	leaving  int // busy but pausing or logging out afterwards
	paused   int
	onCall   int // Reserved or Talking, leaving or not: agents holding a live call
	inflight int // calls ringing
	waiting  int // live answers waiting for an agent
}

func takeCensus(s *Snapshot) census {
	c := census{inflight: len(s.Calls), waiting: s.Waiting}
	for i := range s.Agents {
		a := &s.Agents[i]
		if a.State == Talking || a.State == Reserved {
			c.onCall++
		}
		switch {
		case a.State == Paused:
			c.paused++
		case a.State == Ready:
			c.ready++
		case a.Leaving:
			c.leaving++
		default:
			c.busy++
		}
	}
	return c
}

// available is the number of agents who are ready or will be again after
// their current call: the agents the campaign dials for.
func (c census) available() int { return c.ready + c.busy }

// lines is what the campaign holds before it dials: calls ringing and live
// answers waiting for an agent.
func (c census) lines() int { return c.inflight + c.waiting }

// cpsBucket keeps a pacer under a calls-per-second limit: a token bucket
// refilled from the snapshot clock, holding at most one second of calls.
// A decision is charged when it is made; the calls of it that were never
// placed (Refunder) are given back.
type cpsBucket struct {
	tokens float64
	cps    float64 // the limit at the last decision
	last   time.Time
}

func (b *cpsBucket) room(now time.Time, cps float64) int {
	if cps <= 0 {
		return math.MaxInt32
	}
	if b.last.IsZero() {
		b.tokens = cps
	} else if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = math.Min(cps, b.tokens+cps*dt)
	}
	b.last, b.cps = now, cps
	return int(b.tokens + 1e-9)
}

func (b *cpsBucket) take(n int) { b.tokens -= float64(n) }

// refund gives back n calls charged but not placed (never above a
// second's worth).
func (b *cpsBucket) refund(n int) {
	if n > 0 && b.cps > 0 {
		b.tokens = math.Min(b.cps, b.tokens+float64(n))
	}
}

// Refunder is a pacer that charges its decisions to a calls-per-second
// budget: Unplaced gives back n calls of its decisions that were never
// placed (the queue had fewer contacts due, the compliance gate blocked
// one, a local error kept its INVITE in), so they do not use up the
// calls per second of the calls that are.
type Refunder interface {
	Unplaced(n int)
}

// room is how many calls the caps on lines allow now, and the cap that
// binds: lines per available agent, then the trunk's free channels.
func room(c census, maxLines float64, s *Snapshot) (int, Reason) {
	n, why := math.MaxInt32, ReasonDial
	if maxLines > 0 {
		n, why = int(math.Floor(maxLines*float64(c.available())+1e-9))-c.lines(), ReasonCapLines
	}
	if s.Trunk.FreeChannels >= 0 && s.Trunk.FreeChannels < n {
		n, why = s.Trunk.FreeChannels, ReasonCapChannel
	}
	return max(n, 0), why
}

// limit applies the caps every pacer obeys (room, then the trunk's calls
// per second) to want, what the pacer would dial; it returns what may be
// dialled and why it was cut.
func limit(want int, why Reason, c census, maxLines float64, s *Snapshot, b *cpsBucket) (int, Reason) {
	if want <= 0 {
		return 0, why
	}
	if r, rwhy := room(c, maxLines, s); r < want {
		want, why = r, rwhy
	}
	if r := b.room(s.Now, s.Trunk.CPS); r < want {
		want, why = max(r, 0), ReasonCapCPS
	}
	b.take(want)
	return want, why
}

// dialLevel is the calls in flight after dialing n, per available agent.
func dialLevel(c census, n int) float64 {
	if c.available() == 0 {
		return 0
	}
	return float64(c.lines()+n) / float64(c.available())
}
