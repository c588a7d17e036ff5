package pacing

import "time"

// handleModel learns a campaign's talk and wrap-up times and predicts when
// each busy agent will be ready again: an agent talking for e seconds is
// free after the rest of the talk (the talk distribution conditioned on
// having lasted e) plus a whole wrap-up; an agent in wrap-up for e seconds
// after the rest of the wrap-up.
type handleModel struct {
	talk, wrap *Dist
	step       float64
	wrapPMF    []float64 // P(wrap-up in [j·step, (j+1)·step)), for the tick's horizon
	rest       []float64 // scratch: the rest of one agent's talk
	// Forecast rows by time in state: talk to the second up to 30 minutes
	// (longer talks use the last row), wrap-up to the half second up to 5
	// minutes.
	talkRows, wrapRows *table
}

// Priors: talk lognormal mean 3 min (cv 1), wrap-up 20 s (cv 1), each worth
// three calls. memory is in calls (a few hours of a team's work is right:
// handle times change slowly, and the tail needs many calls to be known).
func newHandleModel(memory float64) *handleModel {
	return &handleModel{
		talk:     newDist(handleGrid, memory, lognormalCDF(180, 1), 3),
		wrap:     newDist(handleGrid, memory, lognormalCDF(20, 1), 3),
		talkRows: newTable(1801, 1),
		wrapRows: newTable(601, 0.5),
	}
}

func (m *handleModel) observe(ev Event) {
	switch ev.Kind {
	case TalkEnded:
		m.talk.Add(ev.Duration.Seconds())
		m.talkRows.since++
	case WrapEnded:
		m.wrap.Add(ev.Duration.Seconds())
		m.wrapRows.since++
		m.talkRows.since++ // talk rows include the wrap-up
	}
}

// prepare sets the horizon (bins bins of step seconds) and drops the
// cached rows if the horizon changed or the model moved.
func (m *handleModel) prepare(bins int, step float64) {
	if bins == len(m.wrapPMF) && step == m.step && !m.talkRows.stale(m.talk.N()+m.wrap.N()) {
		if m.wrapRows.stale(m.wrap.N()) {
			m.wrapRows.reset(bins)
		}
		return
	}
	m.step = step
	if cap(m.wrapPMF) < bins {
		m.wrapPMF = make([]float64, bins)
		m.rest = make([]float64, bins)
	}
	m.wrapPMF, m.rest = m.wrapPMF[:bins], m.rest[:bins]
	prev := 1.0
	for j := range m.wrapPMF {
		s := m.wrap.Survival(float64(j+1) * step)
		m.wrapPMF[j] = prev - s
		prev = s
	}
	m.talkRows.reset(bins)
	m.wrapRows.reset(bins)
}

// free is the cached form of freeBy: the row for this agent's state and
// time in it (nil for an agent who is not coming back).
func (m *handleModel) free(a Agent) []float64 {
	var t *table
	switch a.State {
	case Talking:
		t = m.talkRows
	case Reserved:
		t, a.InState = m.talkRows, 0
	case Wrap:
		t = m.wrapRows
	default:
		return nil
	}
	r, i, ok := t.row(a.InState.Seconds())
	if !ok {
		a.InState = secondsDur(float64(i) * t.res)
		m.freeBy(a, r)
	}
	return r
}

func secondsDur(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// freeBy fills out[k] with P(the agent is ready by k·step from now), for a
// busy agent coming back to Ready.
func (m *handleModel) freeBy(a Agent, out []float64) {
	e := a.InState.Seconds()
	switch a.State {
	case Ready:
		for k := range out {
			out[k] = 1
		}
	case Wrap:
		for k := range out {
			out[k] = m.wrap.Residual(e, float64(k)*m.step)
		}
	case Talking, Reserved:
		if a.State == Reserved {
			e = 0 // the call is about to start
		}
		// Ready by k·step when the wrap-up (in bin j, taken at its middle)
		// starts early enough for the rest of the talk to fit before it.
		r := m.rest
		for i := range r {
			r[i] = m.talk.Residual(e, (float64(i)-0.5)*m.step)
		}
		for k := range out {
			var p float64
			for j := 0; j < k; j++ {
				p += m.wrapPMF[j] * r[k-j]
			}
			out[k] = p
		}
	default:
		for k := range out {
			out[k] = 0
		}
	}
}

// enough says whether the model has seen enough calls to be trusted.
func (m *handleModel) enough(n int) bool { return m.talk.N() >= n && m.wrap.N() >= n }

// meanHandle is the mean talk plus wrap-up time.
func (m *handleModel) meanHandle() time.Duration {
	return time.Duration((m.talk.Mean() + m.wrap.Mean()) * float64(time.Second))
}
