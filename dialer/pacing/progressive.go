package pacing

import "math"

// Progressive dials a fixed number of lines per ready agent
// (Settings.LinesPerAgent, 1 when unset): with one line, a person who
// answers always finds the agent the call was placed for, so it never
// abandons, and agents wait through every ring.
type Progressive struct {
	cps cpsBucket
}

// NewProgressive returns a progressive pacer.
func NewProgressive() *Progressive { return &Progressive{} }

func (*Progressive) Name() string { return "progressive" }

// Unplaced gives back n calls of its decisions never placed (Refunder).
func (p *Progressive) Unplaced(n int) { p.cps.refund(n) }

// Observe does nothing: progressive pacing learns nothing.
func (*Progressive) Observe(Event) {}

func (p *Progressive) Decide(s *Snapshot) Decision {
	c := takeCensus(s)
	return progressive(s, c, s.Settings.LinesPerAgent, &p.cps)
}

// progressive is the rule, shared with the predictive pacer's warm-up.
func progressive(s *Snapshot, c census, perAgent float64, b *cpsBucket) Decision {
	if c.available() == 0 {
		return Decision{Reason: ReasonNoAgents}
	}
	if c.ready == 0 {
		return Decision{Reason: ReasonNoneSoon, DialLevel: dialLevel(c, 0)}
	}
	if perAgent <= 0 {
		perAgent = 1
	}
	want := int(math.Floor(perAgent*float64(c.ready)+1e-9)) - c.lines()
	n, why := limit(want, ReasonDial, c, s.Settings.MaxLinesPerAgent, s, b)
	if want <= 0 {
		why = ReasonEnough
	}
	return Decision{Dial: n, Reason: why, DialLevel: dialLevel(c, n), PredictedFree: float64(c.ready)}
}
