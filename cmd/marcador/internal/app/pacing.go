package app

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/marcador/marcador/dialer/campaign"
)

// pacingCollector exports the last pacing decision of every campaign
// running on this node: one series per campaign and figure (no per-tick
// logs).
type pacingCollector struct{ r *campaign.Runner }

func pacingDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("marcador_pacing_"+name, help, append([]string{"campaign"}, labels...), nil)
}

var (
	pacingLevel = pacingDesc("dial_level", "Calls in flight (ringing or waiting for an agent) after the last tick's dials, per available agent of this node.")
	pacingFree  = pacingDesc("predicted_free_agents", "Agents of this node the pacer expects free within its horizon (ready ones included).")
	pacingLive  = pacingDesc("predicted_live_answers", "Live answers the pacer expects from the calls in flight within its horizon.")
	pacingCalls = pacingDesc("calls_in_flight", "Calls ringing (sent, not answered) for the campaign on this node.")
	pacingWait  = pacingDesc("calls_waiting", "Answered calls waiting for an agent (IVR campaigns: transfers waiting).")
	pacingSess  = pacingDesc("ivr_sessions", "IVR sessions running for the campaign on this node.")
	pacingReady = pacingDesc("agents", "This node's logged-in agents of the campaign at the last tick, by state (ready, available = ready or coming back, logged_in).", "state")
	pacingTheta = pacingDesc("threshold", "The predictive pacer's marginal abandon chance at the last tick (its feedback term).")
	pacingMode  = pacingDesc("mode", "1 for the pacer the campaign runs on this node (progressive, predictive, agentless) and why it dialled what it did.", "mode", "reason")
	pacingDials = pacingDesc("dials_total", "Calls this node placed for the campaign since its loop started.")
	pacingAhead = pacingDesc("dials_ahead_total", "Of those, calls beyond one line per ready agent (dialling ahead of the agents).")
)

func (c pacingCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{pacingLevel, pacingFree, pacingLive, pacingCalls, pacingWait, pacingSess, pacingReady, pacingTheta,
		pacingMode, pacingDials, pacingAhead} {
		ch <- d
	}
}

func (c pacingCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, s := range c.r.Pacing() {
		id := s.Campaign
		gauge(pacingLevel, s.Decision.DialLevel, id)
		gauge(pacingFree, s.Decision.PredictedFree, id)
		gauge(pacingLive, s.Decision.PredictedLive, id)
		gauge(pacingCalls, float64(s.Ringing), id)
		gauge(pacingWait, float64(s.Waiting), id)
		gauge(pacingSess, float64(s.Sessions), id)
		gauge(pacingReady, float64(s.Ready), id, "ready")
		gauge(pacingReady, float64(s.Available), id, "available")
		gauge(pacingReady, float64(s.LoggedIn), id, "logged_in")
		gauge(pacingTheta, s.Threshold, id)
		gauge(pacingMode, 1, id, s.Mode, string(s.Reason))
		ch <- prometheus.MustNewConstMetric(pacingDials, prometheus.CounterValue, float64(s.Dials), id)
		ch <- prometheus.MustNewConstMetric(pacingAhead, prometheus.CounterValue, float64(s.DialsAhead), id)
	}
}
