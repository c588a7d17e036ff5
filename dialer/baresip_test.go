package dialer

import (
	"context"
	"testing"
	"time"

	"github.com/marcador/marcador/dialer/baresiptest"
	"github.com/marcador/marcador/ivr/media"
)

// Outbound legs keep their dialog too: baresip, auto-answering our call,
// takes our BYE with 200, and its own BYE ends our leg.
func TestOutboundDialogWithBaresip(t *testing.T) {
	t.Parallel()
	phone := baresiptest.Start(t, baresiptest.Options{User: "debtor", RTPPorts: media.PortRange{Min: 48700, Max: 48799}})
	e := lineEndpoint(t, EndpointOptions{RTPPorts: media.PortRange{Min: 47800, Max: 47899}})
	tr, err := NewTrunk(TrunkConfig{Name: "baresip", URI: "sip:" + phone.Addr, CallerID: "+525550000100"})
	if err != nil {
		t.Fatal(err)
	}
	for i, who := range []string{"we hang up", "baresip hangs up"} {
		leg, err := e.Dial(context.Background(), DialRequest{Trunk: tr, To: "sip:debtor@" + phone.Addr})
		if err != nil {
			t.Fatal(err)
		}
		if r := leg.Result(); r.Answered.IsZero() {
			t.Fatalf("%s: not answered: %+v\n%s", who, r, phone.Output())
		}
		if _, err := phone.WaitEvent("CALL_ESTABLISHED", i+1, 20*time.Second); err != nil {
			t.Fatal(err)
		}
		if who == "we hang up" {
			if r := leg.Hangup(context.Background()); r.ByeStatus != 200 {
				t.Fatalf("our BYE answered %d\n%s", r.ByeStatus, phone.Output())
			}
		} else {
			if err := phone.Command("hangup", ""); err != nil {
				t.Fatal(err)
			}
			select {
			case <-leg.Ended():
			case <-time.After(20 * time.Second):
				t.Fatalf("baresip's BYE did not end our leg\n%s", phone.Output())
			}
			if r := leg.Result(); r.Reason != "remote hangup" {
				t.Fatalf("result %+v", r)
			}
		}
		if _, err := phone.WaitEvent("CALL_CLOSED", i+1, 20*time.Second); err != nil {
			t.Fatalf("%s: %v\n%s", who, err, phone.Output())
		}
	}
}
