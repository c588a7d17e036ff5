package dialer

import "github.com/marcador/marcador/analytics"

// ApplyTo copies the call's facts (times, SIP code, disposition, reason) into
// the attempt row; the caller sets who was called and why.
func (r Result) ApplyTo(a *analytics.Attempt) {
	a.Channel = analytics.Voice
	a.StartedAt = r.Started
	a.AnsweredAt = r.Answered
	a.EndedAt = r.Ended
	a.RingMS = r.RingMS()
	a.TalkMS = r.TalkMS()
	a.SIPCode = uint16(r.SIPCode)
	a.Disposition = r.Disposition
	a.Reason = r.Reason
}
