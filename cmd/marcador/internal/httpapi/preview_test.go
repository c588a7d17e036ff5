package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/dialer/campaign"
)

// previewsStub answers as the runner would for each agent id.
type previewsStub struct{ skipped campaign.Skip }

func previewErr(id string) error {
	switch id {
	case "unknown":
		return fmt.Errorf("agent unknown: %w", agent.ErrNotFound)
	case "busy":
		return &agent.CallError{Kind: agent.CallConflict, Message: "agent busy is talking"}
	case "empty":
		return fmt.Errorf("campaign c: %w", campaign.ErrNothingDue)
	}
	return nil
}

func (s *previewsStub) PreviewNext(_ context.Context, id string) (campaign.Preview, error) {
	return campaign.Preview{Agent: id, Call: "call-1", Screen: campaign.ScreenPop{Call: "call-1"}}, previewErr(id)
}

func (s *previewsStub) PreviewDial(_ context.Context, id string) (json.RawMessage, error) {
	if err := previewErr(id); err != nil {
		return nil, err
	}
	return json.RawMessage(`{"call":"call-1","state":"ringing","agent":"` + id + `"}`), nil
}

func (s *previewsStub) PreviewSkip(_ context.Context, id string, sk campaign.Skip) (campaign.Skipped, error) {
	if sk.Reason == "" {
		return campaign.Skipped{}, &agent.CallError{Kind: agent.CallInvalid, Field: "reason", Reason: "required", Message: "reason: required"}
	}
	s.skipped = sk
	return campaign.Skipped{Agent: id, Reason: sk.Reason}, previewErr(id)
}

// The preview routes: next (200, 204 nothing due), dial and skip; 404 for
// an unknown agent, 409 for one that may not, 422 for a bad reason, 400 for
// a body that is not JSON of the route's shape.
func TestPreviewRoutes(t *testing.T) {
	stub := &previewsStub{}
	f := newAgentsFixture(t)
	f.fixture = newFixture(t, func(o *Options) { o.Agents, o.Previews = f.api.opt.Agents, stub })
	var p campaign.Preview
	if code := f.do(t, "GET", "/api/v1/agents/ana/next", "", "", true, &p); code != 200 || p.Agent != "ana" || p.Screen.Call != "call-1" {
		t.Fatalf("next: %d %+v", code, p)
	}
	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/api/v1/agents/empty/next", "", 204},
		{"GET", "/api/v1/agents/unknown/next", "", 404},
		{"GET", "/api/v1/agents/busy/next", "", 409},
		{"POST", "/api/v1/agents/ana/dial", "", 200},
		{"POST", "/api/v1/agents/busy/dial", "", 409},
		{"POST", "/api/v1/agents/ana/dial", `{"x":1}`, 400},
		{"POST", "/api/v1/agents/ana/skip", `{"reason":"needs_review"}`, 200},
		{"POST", "/api/v1/agents/ana/skip", `{}`, 422},
		{"POST", "/api/v1/agents/ana/skip", `{"why":"x"}`, 400},
		{"POST", "/api/v1/agents/unknown/skip", `{"reason":"x"}`, 404},
		{"GET", "/api/v1/agents/a%20b/next", "", 400},
	} {
		if code := f.do(t, c.method, c.path, "application/json", c.body, true, nil); code != c.want {
			t.Errorf("%s %s %s: %d, want %d", c.method, c.path, c.body, code, c.want)
		}
	}
	if stub.skipped.Reason != "x" {
		t.Errorf("skip reached the runner with %+v", stub.skipped)
	}
}
