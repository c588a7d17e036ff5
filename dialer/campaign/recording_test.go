package campaign

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/queue/redistest"
)

// A recording's name comes from the attempt id alone (an HTTP path
// segment): only a UUIDv7 becomes a path, always under the directory.
func FuzzRecordingName(f *testing.F) {
	for _, s := range []string{analytics.NewAttemptID(), "../../etc/passwd", "01a23318-0e46-70ac-a211-0348c19cfffd",
		"01A23318-0E46-70AC-A211-0348C19CFFFD", "urn:uuid:01a23318-0e46-70ac-a211-0348c19cfffd", "{01a23318-0e46-70ac-a211-0348c19cfffd}",
		"01234567-0123-4123-8123-0123456789ab", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		rel, err := RecordingName(id)
		if err != nil {
			return
		}
		if !filepath.IsLocal(rel) || filepath.Base(rel) != id+".wav" || strings.Count(rel, string(filepath.Separator)) != 3 {
			t.Fatalf("%q named %q", id, rel)
		}
	})
}

func TestRecordingName(t *testing.T) {
	t.Parallel()
	rel, err := RecordingName("01a23318-0e46-70ac-a211-0348c19cfffd")
	if err != nil || rel != filepath.Join("2026", "12", "01", "01a23318-0e46-70ac-a211-0348c19cfffd.wav") {
		t.Fatalf("%q %v", rel, err)
	}
	for _, bad := range []string{"01234567-0123-4123-8123-0123456789ab", "01A23318-0E46-70AC-A211-0348C19CFFFD", "../x"} {
		if _, err := RecordingName(bad); err == nil {
			t.Errorf("%q was named", bad)
		}
	}
}

// A recording asked of a node that does not hold it: the call's state
// names the node that recorded it; a call of this node whose file is
// missing, or an unknown call, is not found.
func TestRecordingOnAnotherNode(t *testing.T) {
	t.Parallel()
	rdb := redistest.Client(t)
	ctx := context.Background()
	dir := t.TempDir()
	r := New(Options{Node: "here-" + rnd(), RecordingsDir: dir})
	defer r.Close()
	calls := func(node string) *agent.Calls {
		c, err := agent.NewCalls(agent.CallsOptions{Client: rdb, Node: node,
			Handle: func(context.Context, agent.Command) (any, error) { return nil, nil }})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	r.agentCalls = calls(r.opt.Node)
	there := calls("there-" + rnd())
	elsewhere, mine, unknown := analytics.NewAttemptID(), analytics.NewAttemptID(), analytics.NewAttemptID()
	for _, c := range []struct {
		calls *agent.Calls
		id    string
	}{{there, elsewhere}, {r.agentCalls, mine}} {
		rel, _ := RecordingName(c.id)
		if err := c.calls.Put(ctx, agent.CallInfo{ID: c.id, Campaign: "c", Account: "a", State: agent.CallEnded, Recording: rel}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rdb.Del(context.Background(), "marcador:call:"+c.id) })
	}
	var re *RecordingElsewhere
	if _, err := r.Recording(ctx, elsewhere); !errors.As(err, &re) || re.Node != there.Node() ||
		err.Error() != "call "+elsewhere+": recording is on node "+there.Node() {
		t.Fatalf("another node's recording: %v", err)
	}
	for _, id := range []string{mine, unknown} {
		if _, err := r.Recording(ctx, id); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s: %v", id, err)
		}
	}
	rel, _ := RecordingName(mine)
	os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o750)
	if err := os.WriteFile(filepath.Join(dir, rel), []byte("RIFF"), 0o640); err != nil {
		t.Fatal(err)
	}
	f, err := r.Recording(ctx, mine)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}
