// Package prometheus_test checks deploy/prometheus's alert rules: promtool
// accepts them, its unit tests (alerts_test.yml) pass, and every metric
// they name is one a node exports.
package prometheus_test

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// promtool is Debian's prometheus package's; .ci/run installs it. A
// machine without it skips the promtool checks (CI never does).
func promtool(t *testing.T, args ...string) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed (apt-get install prometheus)")
		}
		t.Skip("promtool is not installed (apt-get install prometheus)")
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestRulesCheck(t *testing.T) { promtool(t, "check", "rules", "alerts.yml") }

func TestRulesFire(t *testing.T) { promtool(t, "test", "rules", "alerts_test.yml") }

// Every marcador_ metric the rules use is exported by some Go code (a name
// written whole in a non-test file).
func TestRulesUseExportedMetrics(t *testing.T) {
	b, err := os.ReadFile("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`marcador_[a-z_]+`).FindAllString(string(b), -1) {
		used[m] = true
	}
	var code strings.Builder
	err = filepath.WalkDir("../..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && d.Name() != ".." && p != "../..") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			src, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			code.Write(src)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for m := range used {
		if !strings.Contains(code.String(), `"`+m+`"`) {
			t.Errorf("alerts.yml uses %s, which no node exports", m)
		}
	}
	if len(used) < 10 {
		t.Fatalf("only %d metrics found in alerts.yml", len(used))
	}
}
