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
}

// Priors: talk lognormal mean 3 min (cv 1), wrap-up 20 s (cv 1), each worth
// three calls. memory is in calls (a few hours of a team's work is right:
// handle times change slowly, and the tail needs many calls to be known).
func newHandleModel(memory float64) *handleModel {
	return &handleModel{
		talk: newDist(handleGrid, memory, lognormalCDF(180, 1), 3),
		wrap: newDist(handleGrid, memory, lognormalCDF(20, 1), 3),
	}
}

func (m *handleModel) observe(ev Event) {
	switch ev.Kind {
	case TalkEnded:
		m.talk.Add(ev.Duration.Seconds())
	case WrapEnded:
		m.wrap.Add(ev.Duration.Seconds())
	}
}

// prepare sets the horizon: bins bins of step seconds.
func (m *handleModel) prepare(bins int, step float64) {
	m.step = step
	if cap(m.wrapPMF) < bins {
		m.wrapPMF = make([]float64, bins)
	}
	m.wrapPMF = m.wrapPMF[:bins]
	prev := 1.0
	for j := range m.wrapPMF {
		s := m.wrap.Survival(float64(j+1) * step)
		m.wrapPMF[j] = prev - s
		prev = s
	}
}

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
		for k := range out {
			var p float64
			for j := 0; j < k; j++ {
				w := m.wrapPMF[j]
				if w < 1e-6 {
					continue
				}
				p += w * m.talk.Residual(e, (float64(k-j)-0.5)*m.step)
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
