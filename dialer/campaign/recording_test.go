package campaign

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/marcador/marcador/analytics"
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
