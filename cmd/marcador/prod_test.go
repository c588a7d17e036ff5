package main

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// goTool is the go command that runs the tests.
func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// The production build (-tags prod) links neither fake, and serve's parts
// (internal/app, internal/httpapi) import them in no build; the default
// binary has them through its lab tools (demo, twiliosim, simcarrier,
// bench).
func TestProductionBuildLinksNoFakes(t *testing.T) {
	t.Parallel()
	fakes := []string{"github.com/marcador/marcador/sms/twiliotest", "github.com/marcador/marcador/dialer/simcarrier"}
	deps := func(tags, pkg string) string {
		out, err := exec.Command(goTool(t), "list", "-deps", "-tags="+tags, pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps -tags=%s %s: %v\n%s", tags, pkg, err, out)
		}
		return "\n" + string(out)
	}
	for _, c := range []struct{ tags, pkg string }{{"prod", "."}, {"", "./internal/app"}, {"", "./internal/httpapi"}} {
		d := deps(c.tags, c.pkg)
		for _, f := range fakes {
			if strings.Contains(d, "\n"+f+"\n") {
				t.Errorf("%s (tags %q) links %s", c.pkg, c.tags, f)
			}
		}
	}
	if d := deps("", "."); !strings.Contains(d, "\n"+fakes[0]+"\n") {
		t.Errorf("the default build no longer links %s: the lab tools lost it?", fakes[0])
	}
	if out, err := exec.Command(goTool(t), "vet", "-tags=prod", ".").CombinedOutput(); err != nil {
		t.Fatalf("the production build does not compile: %v\n%s", err, out)
	}
}
