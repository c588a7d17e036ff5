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
	eff   float64 // effective number of outcomes remembered (prior included)
	ring  [3]*Dist
	// Forecast rows by ring time so far (half seconds, up to 2 minutes):
	// the cumulative chance of a live answer by the end of each bin, then
	// its Bernoulli variance; extra holds P(live eventually).
	rows    *table
	step    float64
	horizon int // bins
}

// Priors: 10% live, 20% machines; a person answers after about 10 s, a
// machine after 15 s, an unanswered call ends at about 30 s. Outcome shares
// remember about 500 calls, ring times about 300 of each kind.
func newAnswerModel() *answerModel {
	m := &answerModel{inc: 1, grow: 1 / (1 - 1.0/500), rows: newTable(241, 0.5)}
	m.count = [3]float64{1, 2, 7}
	m.eff = 10
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
	m.eff = m.eff/m.grow + 1
	m.inc *= m.grow
	if m.inc > 1e100 {
		for i := range m.count {
			m.count[i] /= m.inc
		}
		m.inc = 1
	}
	m.ring[o].Add(ev.Duration.Seconds())
	m.rows.since++
}

// prepare fixes the forecast's bins (of step seconds, as many as the live
// horizon needs) and drops cached rows if the model moved; it returns the
// number of bins.
func (m *answerModel) prepare(step float64) int {
	if m.horizon == 0 || step != m.step || m.rows.stale(m.calls()) {
		m.step = step
		m.horizon = int(math.Ceil(m.liveHorizon()/step)) + 1
		m.rows.reset(2 * m.horizon)
	}
	return m.horizon
}

// cumLive is the cached forecast for a call that has rung a seconds: the
// cumulative chance of a live answer by the end of each bin (first
// horizon values), its variance (next horizon values), and P(live
// eventually).
func (m *answerModel) cumLive(a float64) ([]float64, float64) {
	r, i, ok := m.rows.row(a)
	if !ok {
		nb := m.horizon
		m.rows.extra[i] = m.liveBins(float64(i)*m.rows.res, m.step, r[:nb])
		var g float64
		for k := range nb {
			g += r[k]
			r[k] = g
			r[nb+k] = g * (1 - g)
		}
	}
	return r, m.rows.extra[i]
}

// share is the learned probability of outcome o for a new call.
func (m *answerModel) share(o int) float64 {
	return m.count[o] / (m.count[0] + m.count[1] + m.count[2])
}

// shares are the outcome shares the forecast uses. While the pacer knows
// little, the live share is taken at the upper end of its 95% one-sided
// confidence interval, so that it expects more live answers than it has
// seen and dials fewer calls; the allowance fades once a hundred calls are
// remembered (the feedback term corrects what is left). The other shares
// are scaled down to match.
func (m *answerModel) shares() (pl, pm, po float64) {
	pl, pm, po = m.share(outLive), m.share(outMachine), m.share(outOther)
	u := math.Min(pl+1.645*math.Sqrt(pl*(1-pl)/m.eff)*math.Min(1, 100/m.eff), 0.95)
	if pl < 1 {
		f := (1 - u) / (1 - pl)
		pm, po = pm*f, po*f
	}
	return u, pm, po
}

// calls is the number of outcomes learned.
func (m *answerModel) calls() int { return m.n[0] + m.n[1] + m.n[2] }

// liveBins fills out[k] with P(the call is answered by a person within
// [k·step, (k+1)·step) from now | it has rung a seconds with no outcome),
// and returns P(a person eventually answers it).
func (m *answerModel) liveBins(a, step float64, out []float64) float64 {
	pl, pm, po := m.shares()
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

// answerChance is P(a person or a machine answers | it has rung a seconds
// with no outcome).
func (m *answerModel) answerChance(a float64) float64 {
	pl, pm, po := m.share(outLive), m.share(outMachine), m.share(outOther)
	sl, sm := pl*m.ring[outLive].Survival(a), pm*m.ring[outMachine].Survival(a)
	z := sl + sm + po*m.ring[outOther].Survival(a)
	if z < 1e-12 {
		return 0
	}
	return (sl + sm) / z
}

// liveHorizon is the ring time within which nearly all live answers come
// (99.5%), so the pacer looks that far ahead.
func (m *answerModel) liveHorizon() float64 {
	return math.Min(m.ring[outLive].Quantile(0.995), 120)
}
