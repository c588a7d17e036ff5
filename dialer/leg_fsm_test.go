package dialer

import (
	"log/slog"
	"strings"
	"testing"
)

// Every move the leg code makes, and the ones it relies on being refused.
func TestLegTransitions(t *testing.T) {
	for _, c := range []struct {
		from, to legState
		refused  string // "" when allowed
	}{
		{legNew, legCalling, ""},  // our INVITE goes out
		{legNew, legAnswered, ""}, // inbound: our 200 goes out
		{legNew, legEnded, ""},    // the INVITE or the 200 could not be sent
		{legNew, legEarly, "from new a leg goes only to calling, answered, ended"},
		{legNew, legCancelling, "from new a leg goes only to"},
		{legCalling, legEarly, ""},
		{legCalling, legCalling, ""},    // the INVITE again, with credentials
		{legCalling, legCancelling, ""}, // the caller's context ended before any response
		{legCalling, legAnswered, ""},
		{legCalling, legHangingUp, ""}, // a 2xx whose SDP we cannot use
		{legCalling, legEnded, ""},     // a final error, or nothing heard in the ring timeout
		{legEarly, legEarly, "already early"},
		{legEarly, legCalling, ""}, // challenged after 100 Trying
		{legEarly, legCancelling, ""},
		{legEarly, legAnswered, ""},
		{legEarly, legHangingUp, ""},
		{legEarly, legEnded, ""},
		{legCancelling, legCancelling, "already cancelling"}, // one CANCEL per call
		{legCancelling, legCalling, "from cancelling a leg goes only to hanging-up, ended"}, // no digest retry after CANCEL
		{legCancelling, legEarly, "from cancelling a leg goes only to"},                     // a 180 after CANCEL changes nothing
		{legCancelling, legAnswered, "from cancelling a leg goes only to"},                  // a 2xx after CANCEL is hung up
		{legCancelling, legHangingUp, ""},
		{legCancelling, legEnded, ""}, // 487, or no final response in time
		{legAnswered, legCancelling, "from answered a leg goes only to hanging-up, ended"},
		{legAnswered, legEarly, "from answered a leg goes only to"},
		{legAnswered, legAnswered, "already answered"},
		{legAnswered, legHangingUp, ""},
		{legAnswered, legEnded, ""}, // the far end's BYE
		{legHangingUp, legHangingUp, "already hanging-up"},
		{legHangingUp, legEnded, ""},
		{legEnded, legEnded, "ended is final"}, // a second outcome is not recorded
		{legEnded, legHangingUp, "ended is final"},
		{legEnded, legNew, "ended is final"},
		{legAnswered, legState(42), "no such state"},
	} {
		err := c.from.next(c.to)
		switch {
		case c.refused == "" && err != nil:
			t.Errorf("%s -> %s refused: %v", c.from, c.to, err)
		case c.refused != "" && (err == nil || !strings.Contains(err.Error(), c.refused)):
			t.Errorf("%s -> %s: %v, want it refused with %q", c.from, c.to, err, c.refused)
		}
	}
	for s := range legState(len(legTransitions)) {
		if s.next(legNew) == nil {
			t.Errorf("%s goes back to new", s)
		}
		if s != legEnded && s.next(legEnded) != nil {
			t.Errorf("%s cannot end", s)
		}
	}
}

// moveTo changes the state only when the table allows it, and its refusal
// names the call.
func TestLegMoveTo(t *testing.T) {
	l := &Leg{CallID: "c1", log: slog.New(slog.DiscardHandler)}
	for _, to := range []legState{legCalling, legEarly, legCancelling} {
		if err := l.moveTo(to); err != nil {
			t.Fatal(err)
		}
	}
	err := l.moveTo(legAnswered)
	if err == nil || !strings.HasPrefix(err.Error(), "leg c1: cancelling -> answered") {
		t.Fatalf("moveTo(answered) while cancelling: %v", err)
	}
	if !l.is(legCancelling) {
		t.Fatalf("a refused move changed the state to %s", l.state)
	}
}
