package campaign

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/dialer/agent/agenttest"
	"github.com/marcador/marcador/ivr/media/mediatest"
	"github.com/marcador/marcador/queue"
)

// A preview agent sees its next account (the same one on a repeated
// look), skips it (back to the queue, no attempt row), sees the next,
// dials it from another node's API (placed by the node holding its leg),
// talks to the debtor across the bridge and disposes the call; a busy
// line gives the agent back ready with its attempt row. The pacer never
// dials for the campaign.
func TestPreviewAgentDialsAndSkips(t *testing.T) {
	t.Parallel()
	w := newAgentWorld(t, nil)
	c := w.campaign(func(c *queue.Campaign) {
		c.Mode = queue.ModePreview
		c.Retry.Delays = map[string]queue.Duration{"skipped": queue.Duration(3 * time.Hour)}
	})
	ag := w.agent(c, agenttest.Options{})
	var ce *agent.CallError
	if _, err := w.r.PreviewNext(w.ctx, "nobody-"+rnd()); !errors.Is(err, agent.ErrNotFound) {
		t.Fatalf("next for an unknown agent: %v", err)
	}
	if _, err := w.r.PreviewNext(w.ctx, ag.id); !errors.As(err, &ce) || ce.Kind != agent.CallConflict {
		t.Fatalf("next before the campaign runs: %v", err)
	}
	nums := []string{number(), number(), number()}
	accts := w.debtors(c, nums...)
	byID := map[string]int{}
	for i, a := range accts {
		byID[a.ID] = i
	}
	w.start(c)
	if _, err := w.r.PreviewSkip(w.ctx, ag.id, Skip{Reason: "later"}); !errors.As(err, &ce) || ce.Kind != agent.CallConflict {
		t.Fatalf("skip with nothing leased: %v", err)
	}
	if _, err := w.r.PreviewDial(w.ctx, ag.id); !errors.As(err, &ce) || ce.Kind != agent.CallConflict {
		t.Fatalf("dial with nothing leased: %v", err)
	}
	first, err := w.r.PreviewNext(w.ctx, ag.id)
	if err != nil {
		t.Fatal(err)
	}
	again, err := w.r.PreviewNext(w.ctx, ag.id)
	if err != nil || again.Call != first.Call || again.Screen.Account.ID != first.Screen.Account.ID {
		t.Fatalf("a repeated look: %+v, first %+v, %v", again.Screen.Account, first.Screen.Account, err)
	}
	i := byID[first.Screen.Account.ID]
	if first.Screen.Account.Name != accts[i].Name || first.Screen.Phone != nums[i] || first.Screen.Account.Balance != "10000.00" ||
		first.Screen.Account.Fields["producto"] != "tarjeta" || len(first.Screen.Codes) != 8 || !first.Expires.After(time.Now()) {
		t.Fatalf("preview %+v", first)
	}
	if _, err := w.r.PreviewSkip(w.ctx, ag.id, Skip{}); !errors.As(err, &ce) || ce.Field != "reason" {
		t.Fatalf("skip without a reason: %v", err)
	}
	sk, err := w.r.PreviewSkip(w.ctx, ag.id, Skip{Reason: "needs_review"})
	if err != nil || sk.Account != first.Screen.Account.ID || sk.DueAt.Before(time.Now().Add(170*time.Minute)) {
		t.Fatalf("skip: %+v %v", sk, err)
	}
	if n, err := w.r.PreviewSkips(w.ctx, c.ID); err != nil || n["needs_review"] != 1 {
		t.Fatalf("skips %v %v", n, err)
	}
	// The skipped account is not due now; the next look leases another.
	next, err := w.r.PreviewNext(w.ctx, ag.id)
	if err != nil || next.Screen.Account.ID == first.Screen.Account.ID || next.Call == first.Call {
		t.Fatalf("after the skip: %+v %v", next.Screen.Account, err)
	}
	j := byID[next.Screen.Account.ID]
	// Dialled from another node's API: the node holding the leg places it.
	other := w.otherNode()
	out, err := other.DoOn(w.ctx, w.node, ag.id, opPreviewDial, nil)
	var ans CallAnswer
	if err != nil || json.Unmarshal(out, &ans) != nil || ans.Call != next.Call || ans.State != agent.CallRinging || ans.Agent != ag.id {
		t.Fatalf("dial: %s %v", out, err)
	}
	dc := w.carrier.call(w.ctx, nums[j])
	playLoop(w.ctx, dc.leg.Session(), tone("debtor", 1000, time.Second))
	w.waitState(ag.id, agent.Talking)
	w.poll("the debtor's tone at the agent", func() bool { return mediatest.ToneAt(ag.leg.Heard(), 1000) >= 600*time.Millisecond })
	if _, err := w.r.PreviewNext(w.ctx, ag.id); !errors.As(err, &ce) || ce.Kind != agent.CallConflict {
		t.Fatalf("next while talking: %v", err)
	}
	if _, err := other.Do(w.ctx, next.Call, opDisposition, Disposition{Code: "refused"}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Do(w.ctx, next.Call, opHangup, nil); err != nil {
		t.Fatal(err)
	}
	w.waitState(ag.id, agent.Ready)
	// The third account: busy. The agent is ready again, the row written.
	last, err := w.r.PreviewNext(w.ctx, ag.id)
	if err != nil {
		t.Fatal(err)
	}
	k := byID[last.Screen.Account.ID]
	if k == i || k == j {
		t.Fatalf("third look: account %s again", last.Screen.Account.ID)
	}
	w.carrier.mu.Lock()
	w.carrier.busy[nums[k]] = true
	w.carrier.mu.Unlock()
	if _, err := w.r.PreviewDial(w.ctx, ag.id); err != nil {
		t.Fatal(err)
	}
	w.poll("the busy call's end", func() bool {
		info, err := other.Get(w.ctx, last.Call)
		return err == nil && info.State == agent.CallEnded
	})
	w.waitState(ag.id, agent.Ready)
	if _, err := w.r.PreviewNext(w.ctx, ag.id); !errors.Is(err, ErrNothingDue) {
		t.Fatalf("nothing left due now: %v", err)
	}
	w.settled(c, 2)
	rows := w.rows(c)
	if len(rows) != 2 {
		t.Fatalf("rows %+v: want the dialled two (a skip is no attempt)", rows)
	}
	if r := rows[accts[j].ID]; r.disposition != "answered" || r.agent != ag.id || r.code != "refused" || r.talkMS == 0 {
		t.Fatalf("answered row %+v", r)
	}
	if r := rows[accts[k].ID]; r.disposition != "busy" || r.agent != ag.id {
		t.Fatalf("busy row %+v", r)
	}
}
