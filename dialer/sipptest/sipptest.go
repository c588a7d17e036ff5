// Package sipptest runs sipp (Debian's sip-tester, a real independent SIP
// stack) on loopback for tests: as the carrier answering our calls, or as a
// debtor calling us and pressing RFC 2833 keys from sipp's digit pcaps; and
// captures what crossed loopback (dumpcap), to hear what sipp was sent.
package sipptest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Sipp is one running sipp process.
type Sipp struct {
	Port      int // its SIP port on its address (127.0.0.1 unless StartAt says)
	MediaPort int // where its RTP comes from and goes to
	cmd       *exec.Cmd
	out       strings.Builder
	done      chan error
	dir       string
	errFile   string
}

// FreeUDPPort returns an even loopback port that was free a moment ago (sipp's
// media wants an even port and the ones after it).
func FreeUDPPort(t testing.TB) int { return freeUDPPort(t, "127.0.0.1") }

func freeUDPPort(t testing.TB, ip string) int {
	t.Helper()
	for {
		c, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		p := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		if p%2 == 0 && p < 65000 {
			return p
		}
	}
}

// Start runs scenario (a path) for calls calls with extra args (e.g. the
// remote address for a UAC, "-s" and "-set"). It is killed when the test ends.
func Start(t testing.TB, scenario string, calls int, args ...string) *Sipp {
	t.Helper()
	return StartAt(t, "127.0.0.1", scenario, calls, args...)
}

// StartAt is Start with sipp's SIP and media on ip (another loopback
// address, such as 127.0.0.2, is another caller).
func StartAt(t testing.TB, ip, scenario string, calls int, args ...string) *Sipp {
	t.Helper()
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Fatal("sipp not installed (apt-get install sip-tester)")
	}
	s := &Sipp{Port: freeUDPPort(t, ip), done: make(chan error, 1), dir: t.TempDir()}
	mport := freeUDPPort(t, ip)
	s.MediaPort = mport
	s.errFile = filepath.Join(s.dir, "err.log")
	base := []string{"-sf", scenario, "-i", ip, "-p", fmt.Sprint(s.Port),
		"-mi", ip, "-mp", fmt.Sprint(mport), "-m", fmt.Sprint(calls), "-nostdin", "-timeout", "90s",
		"-timeout_error", "-trace_err", "-error_file", s.errFile,
		"-trace_msg", "-message_file", filepath.Join(s.dir, "msg.log"), "-trace_logs", "-log_file", filepath.Join(s.dir, "log.log")}
	s.cmd = exec.Command("sipp", append(base, args...)...)
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.done
	})
	return s
}

// Log is sipp's -trace_logs file (what <log> actions wrote).
func (s *Sipp) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "log.log"))
	return string(b)
}

// Fail stops sipp and reports its side of the story.
func (s *Sipp) Fail(t testing.TB) {
	t.Helper()
	s.cmd.Process.Kill()
	s.Wait(t)
}

// Wait expects sipp to finish its calls successfully within a minute.
func (s *Sipp) Wait(t testing.TB) {
	t.Helper()
	select {
	case err := <-s.done:
		s.done <- err
		if err != nil {
			b, _ := os.ReadFile(s.errFile)
			m, _ := os.ReadFile(filepath.Join(s.dir, "msg.log"))
			t.Errorf("sipp failed: %v\n%s\n%s\nmessages:\n%s", err, tail(s.out.String(), 800), tail(string(b), 2000), tail(string(m), 4000))
		}
	case <-time.After(60 * time.Second):
		t.Error("sipp did not finish")
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
