package prompts

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/ivr/say"
)

func TestShippedPromptsLoad(t *testing.T) {
	for _, name := range []string{"es/reminder", "en/reminder", "es/goodbye", "en/goodbye", "es/p/overdue-menu", "en/p/promise-ok"} {
		p, err := Load(name)
		if err != nil {
			t.Fatal(err)
		}
		if d := p.Duration(); d < 300*time.Millisecond || d > 30*time.Second {
			t.Errorf("%s: %s long", name, d)
		}
	}
	if _, err := Load("xx/none"); err == nil {
		t.Fatal("missing prompt loaded")
	}
}

// Every word the say package can produce has a recording.
func TestEveryWordIsRecorded(t *testing.T) {
	l := NewLibrary("")
	for _, lang := range say.Languages {
		if _, err := l.Words(lang, say.Snippets(lang)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLibraryPrefersTheDirectory(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "es", "p"), 0o755)
	// A one-second "studio recording" replacing a shipped phrase.
	wav := media.EncodeWAV(make([]int16, 8000))
	os.WriteFile(filepath.Join(dir, "es", "p", "thanks.wav"), wav, 0o644)
	l := NewLibrary(dir)
	p, err := l.Get("es/p/thanks")
	if err != nil || p.Duration() != time.Second {
		t.Fatalf("%v %v", p, err)
	}
	if _, err := l.Get("es/p/goodbye-nope"); err == nil {
		t.Fatal("missing prompt found")
	}
	if !l.Has("es/p/optout") || l.Has("es/p/nope") {
		t.Fatal("Has")
	}
}
