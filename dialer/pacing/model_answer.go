package pacing

import "math"

// Call outcome classes the answer model tells apart.
const (
	outLive = iota
	outMachine
	outOther
)

// answerModel learns what becomes of a campaign's calls: the share that a
// person answers, that a machine answers, and that end otherwise, and for
// each the time from sending the call to that outcome. From these it
// predicts, for a call that has rung a seconds without an outcome, when it
// will bring a live answer: by Bayes, a call that has rung long is more and
// more likely one nobody will answer.
type answerModel struct {
	count [3]float64 // fading counts, in units of the current increment
	inc   float64
	grow  float64
	n     [3]int
	ring  [3]*Dist
}

// Priors: 10% live, 20% machines; a person answers after about 10 s, a
// machine after 15 s, an unanswered call ends at about 30 s. Outcome shares
// remember about 500 calls, ring times about 300 of each kind.
func newAnswerModel() *answerModel {
	m := &answerModel{inc: 1, grow: 1 / (1 - 1.0/500)}
	m.count = [3]float64{1, 2, 7}
	m.ring[outLive] = newDist(ringGrid, 300, lognormalCDF(10, 0.5), 3)
	m.ring[outMachine] = newDist(ringGrid, 300, lognormalCDF(15, 0.4), 3)
	m.ring[outOther] = newDist(ringGrid, 300, lognormalCDF(28, 0.2), 3)
	return m
}

func (m *answerModel) observe(ev Event) {
	var o int
	switch ev.Kind {
	case AnsweredLive:
		o = outLive
	case AnsweredMachine:
		o = outMachine
	case NotAnswered:
		o = outOther
	default:
		return
	}
	m.count[o] += m.inc
	m.n[o]++
	m.inc *= m.grow
	if m.inc > 1e100 {
		for i := range m.count {
			m.count[i] /= m.inc
		}
		m.inc = 1
	}
	m.ring[o].Add(ev.Duration.Seconds())
}

// share is the learned probability of outcome o for a new call.
func (m *answerModel) share(o int) float64 {
	return m.count[o] / (m.count[0] + m.count[1] + m.count[2])
}

// calls is the number of outcomes learned.
func (m *answerModel) calls() int { return m.n[0] + m.n[1] + m.n[2] }

// liveBins fills out[k] with P(the call is answered by a person within
// [k·step, (k+1)·step) from now | it has rung a seconds with no outcome),
// and returns P(a person eventually answers it).
func (m *answerModel) liveBins(a, step float64, out []float64) float64 {
	pl, pm, po := m.share(outLive), m.share(outMachine), m.share(outOther)
	sl := m.ring[outLive].Survival(a)
	z := pl*sl + pm*m.ring[outMachine].Survival(a) + po*m.ring[outOther].Survival(a)
	if z < 1e-12 || sl <= 0 {
		for k := range out {
			out[k] = 0
		}
		return 0
	}
	c := pl / z
	prev := sl
	for k := range out {
		s := m.ring[outLive].Survival(a + float64(k+1)*step)
		out[k] = c * (prev - s)
		prev = s
	}
	return c * sl
}

// liveHorizon is the ring time within which nearly all live answers come
// (99.5%), so the pacer looks that far ahead.
func (m *answerModel) liveHorizon() float64 {
	return math.Min(m.ring[outLive].Quantile(0.995), 120)
}
