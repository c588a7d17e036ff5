package httpapi

import (
	"context"
	"strings"
	"testing"

	"github.com/marcador/marcador/queue/redistest"
)

// PATCH .../pacing changes an agent campaign's mode, abandon target and
// lines per agent in its stored definition (which every node's loop reads
// on its next tick), and refuses what the campaign may not take.
func TestPatchPacing(t *testing.T) {
	f := newFixture(t)
	body := `{"id":"` + f.id + `","mode":"progressive","country":"US","time_zone":"America/New_York"}`
	if code := f.do(t, "POST", "/api/v1/campaigns", "application/json", body, true, nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	path := "/api/v1/campaigns/" + f.id + "/pacing"
	var v PacingView
	if code := f.do(t, "PATCH", path, "application/json", `{"mode":"predictive","target_abandon":0.02,"max_lines_per_agent":2.5}`, true, &v); code != 200 ||
		v != (PacingView{Campaign: f.id, Mode: "predictive", TargetAbandon: 0.02, MaxLinesPerAgent: 2.5}) {
		t.Fatalf("patch: %d %+v", code, v)
	}
	c, err := f.store.Campaign(context.Background(), f.id)
	if err != nil || c.Mode != "predictive" || c.TargetAbandon != 0.02 || c.MaxLinesPerAgent != 2.5 || !c.Updated.Equal(now) {
		t.Fatalf("stored %+v %v", c, err)
	}
	// One field alone leaves the others.
	if code := f.do(t, "PATCH", path, "application/json", `{"max_lines_per_agent":3}`, true, &v); code != 200 || v.Mode != "predictive" ||
		v.TargetAbandon != 0.02 || v.MaxLinesPerAgent != 3 {
		t.Fatalf("patch one field: %d %+v", code, v)
	}
	var e map[string]string
	for _, bad := range []string{`{`, `{"mode":"predictive"} {}`, `{"target_abandon":"3%"}`, `{"speed":2}`, `{}`} {
		if code := f.do(t, "PATCH", path, "application/json", bad, true, &e); code != 400 || e["error"] == "" {
			t.Errorf("%s: %d %v", bad, code, e)
		}
	}
	for _, x := range []struct{ body, field, reason string }{
		{`{"target_abandon":0.04}`, "target_abandon", "the US profile allows at most 0.03"},
		{`{"target_abandon":0}`, "target_abandon", "want 0.001 to 0.2"},
		{`{"max_lines_per_agent":12}`, "max_lines_per_agent", "want 1.0 to 10.0"},
		{`{"mode":"ivr"}`, "mode", "want progressive or predictive"},
		{`{"mode":"vicidial"}`, "mode", "want progressive or predictive"},
	} {
		e = nil
		if code := f.do(t, "PATCH", path, "application/json", x.body, true, &e); code != 422 || e["field"] != x.field || e["reason"] == "" ||
			!strings.Contains(e["reason"], x.reason) {
			t.Errorf("%s: %d %v", x.body, code, e)
		}
	}
	if c, _ := f.store.Campaign(context.Background(), f.id); c.TargetAbandon != 0.02 || c.MaxLinesPerAgent != 3 {
		t.Fatalf("a refused change was stored: %+v", c)
	}
	// An IVR campaign has no mode to switch to; a missing one is 404.
	ivr := redistest.CampaignID(t, f.rdb)
	if code := f.do(t, "POST", "/api/v1/campaigns", "application/json", `{"id":"`+ivr+`","country":"MX","time_zone":"America/Mexico_City"}`,
		true, nil); code != 201 {
		t.Fatalf("create ivr: %d", code)
	}
	if code := f.do(t, "PATCH", "/api/v1/campaigns/"+ivr+"/pacing", "application/json", `{"mode":"predictive"}`, true, &e); code != 422 ||
		e["field"] != "mode" {
		t.Errorf("ivr mode: %d %v", code, e)
	}
	if code := f.do(t, "PATCH", "/api/v1/campaigns/nope-"+f.id+"/pacing", "application/json", `{"mode":"predictive"}`, true, &e); code != 404 {
		t.Errorf("missing campaign: %d", code)
	}
	if code := f.do(t, "PATCH", path, "application/json", `{"mode":"predictive"}`, false, nil); code != 401 {
		t.Errorf("no token: %d", code)
	}
}
