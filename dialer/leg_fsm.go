package dialer

import (
	"fmt"
	"strings"
)

// legState is where a call is in its life. Both directions share the states
// from the answer on; only the way up differs: an outbound leg sends an
// INVITE and rings, an inbound one is answered by us.
type legState uint8

const (
	legNew        legState = iota // built: no INVITE sent (outbound), no answer sent (inbound)
	legCalling                    // outbound: an INVITE is out and nothing has come back on its transaction
	legEarly                      // outbound: a provisional response came (trying, ringing, early media)
	legCancelling                 // outbound: we sent CANCEL and wait for the INVITE's final response
	legAnswered                   // the dialog is confirmed (2xx sent or received) and media runs
	legHangingUp                  // we end the dialog with a BYE
	legEnded                      // over: the Result is final
)

var legStateNames = [...]string{
	legNew: "new", legCalling: "calling", legEarly: "early", legCancelling: "cancelling",
	legAnswered: "answered", legHangingUp: "hanging-up", legEnded: "ended",
}

func (s legState) String() string {
	if int(s) < len(legStateNames) {
		return legStateNames[s]
	}
	return fmt.Sprintf("legState(%d)", s)
}

// legTransitions says where each state may go. A 2xx that comes after our
// CANCEL, or whose SDP we cannot use, completes the dialog only to end it
// (calling, early or cancelling to hanging-up); an INVITE sent again with
// credentials after a challenge starts its transaction over (calling), but
// never once we have cancelled the call.
var legTransitions = [...][]legState{
	legNew:        {legCalling, legAnswered, legEnded},
	legCalling:    {legCalling, legEarly, legCancelling, legAnswered, legHangingUp, legEnded},
	legEarly:      {legCalling, legCancelling, legAnswered, legHangingUp, legEnded},
	legCancelling: {legHangingUp, legEnded},
	legAnswered:   {legHangingUp, legEnded},
	legHangingUp:  {legEnded},
	legEnded:      nil,
}

// next checks the move from s to to against legTransitions; the error says
// why it is refused.
func (s legState) next(to legState) error {
	if int(s) >= len(legTransitions) || int(to) >= len(legTransitions) {
		return fmt.Errorf("%s -> %s: no such state", s, to)
	}
	allowed := legTransitions[s]
	for _, a := range allowed {
		if a == to {
			return nil
		}
	}
	switch {
	case len(allowed) == 0:
		return fmt.Errorf("%s -> %s: %s is final", s, to, s)
	case s == to:
		return fmt.Errorf("%s -> %s: already %s", s, to, s)
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = a.String()
	}
	return fmt.Errorf("%s -> %s: from %s a leg goes only to %s", s, to, s, strings.Join(names, ", "))
}

// moveTo is the one place a leg changes state. A refused move leaves the
// state as it was; callers use the refusal to decide (a second CANCEL is
// not sent, a second outcome is not recorded).
func (l *Leg) moveTo(to legState) error {
	l.mu.Lock()
	from := l.state
	err := from.next(to)
	if err == nil {
		l.state = to
	}
	l.mu.Unlock()
	if err != nil {
		return fmt.Errorf("leg %s: %w", l.CallID, err)
	}
	l.log.Debug("leg state", "from", from, "to", to)
	return nil
}

// is says whether the leg is in state s now.
func (l *Leg) is(s legState) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state == s
}
