// Package baresiptest runs baresip (Debian's softphone, a real SIP stack of
// its own) on loopback for tests: a phone that dials or auto-answers, keys
// RFC 4733 digits through its command interface (ctrl_tcp), reports call
// events, prints its SIP trace, and records what it heard (sndfile).
package baresiptest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marcador/marcador/ivr/media"
)

// Options configure a phone.
type Options struct {
	// User is the account's user part, the caller id it sends (e.g. an
	// E.164 number).
	User string
	// RTPPorts is where its media binds; default 48900-48999.
	RTPPorts media.PortRange
	// Say is what its microphone sends (8 kHz mono); default a quiet
	// 300 Hz hum (a live microphone: the far end hears a stream).
	Say []int16
}

// Event is one ctrl_tcp event, e.g. CALL_ESTABLISHED or CALL_CLOSED.
type Event struct {
	Type  string `json:"type"`
	Class string `json:"class"`
	Param string `json:"param"`
	Peer  string `json:"peeruri"`
	ID    string `json:"id"`
}

// Phone is one running baresip.
type Phone struct {
	Addr string // its SIP address, 127.0.0.1:port

	dir  string
	cmd  *exec.Cmd
	ctrl net.Conn
	// exited is closed when the process has ended, waitErr then says how.
	exited  chan struct{}
	waitErr error

	mu     sync.Mutex
	out    bytes.Buffer
	events []Event
	resps  chan response
	token  int
}

type response struct {
	OK    bool   `json:"ok"`
	Data  string `json:"data"`
	Token string `json:"token"`
}

type lockedWriter struct{ p *Phone }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.out.Write(b)
}

// fixedPorts is where baresip's SIP and control ports are taken: below the
// kernel's ephemeral ports (32768 and up here), which an outgoing
// connection of any other test could take between the check below and
// baresip's bind (seen in CI: "bind: Address already in use").
const fixedPortsMin, fixedPortsN = 10000, 5000 // under the dev config's 15060-15090

// freePorts is a port of that range free now for UDP and, when both, for
// TCP too: baresip's sip_listen binds both.
func freePorts(t testing.TB, both bool) int {
	t.Helper()
	for range 200 {
		port := fixedPortsMin + rand.IntN(fixedPortsN)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		l.Close()
		if !both {
			return port
		}
		if c, err := net.ListenPacket("udp", addr); err == nil {
			c.Close()
			return port
		}
	}
	t.Fatalf("no free port in %d-%d in 200 tries", fixedPortsMin, fixedPortsMin+fixedPortsN-1)
	return 0
}

// Start runs baresip with a config of its own in a temporary directory; it
// is stopped when the test ends.
func Start(t testing.TB, o Options) *Phone {
	t.Helper()
	if _, err := exec.LookPath("baresip"); err != nil {
		t.Fatal("baresip not installed (apt-get install baresip)")
	}
	if o.RTPPorts == (media.PortRange{}) {
		o.RTPPorts = media.PortRange{Min: 48900, Max: 48999}
	}
	if o.Say == nil {
		o.Say = media.Tone(300, 300, 120*media.SampleRate)
	}
	p := &Phone{dir: t.TempDir(), exited: make(chan struct{}), resps: make(chan response, 16)}
	sipPort, ctrlPort := freePorts(t, true), freePorts(t, false)
	p.Addr = fmt.Sprintf("127.0.0.1:%d", sipPort)
	rec := filepath.Join(p.dir, "rec")
	if err := os.Mkdir(rec, 0o755); err != nil {
		t.Fatal(err)
	}
	say := filepath.Join(p.dir, "say.wav")
	files := map[string]string{
		say: string(media.EncodeWAV(o.Say)),
		// alsa's null device plays what is heard to nowhere; sndfile
		// records it first (and what is sent) in rec/.
		filepath.Join(p.dir, "config"): fmt.Sprintf(`poll_method epoll
sip_listen 127.0.0.1:%d
net_interface 127.0.0.1
rtp_ports %d-%d
audio_player alsa,null
audio_alert alsa,null
audio_source aufile,%s
ausrc_srate 8000
ausrc_channels 1
auplay_srate 8000
auplay_channels 1
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module alsa.so
module sndfile.so
module ctrl_tcp.so
module_app account.so
module_app menu.so
ctrl_tcp_listen 127.0.0.1:%d
snd_path %s
`, sipPort, o.RTPPorts.Min, o.RTPPorts.Max, say, ctrlPort, rec),
		filepath.Join(p.dir, "accounts"): fmt.Sprintf("<sip:%s@127.0.0.1>;regint=0;answermode=auto;audio_codecs=PCMU,PCMA\n", o.User),
	}
	for name, body := range files {
		if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// -s prints every SIP message it sends and receives.
	p.cmd = exec.Command("baresip", "-f", p.dir, "-s")
	p.cmd.Stdout, p.cmd.Stderr = lockedWriter{p}, lockedWriter{p}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.waitErr = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.stop() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ctrlPort))
		if err == nil {
			p.ctrl = c
			break
		}
		select {
		case <-p.exited:
			t.Fatalf("baresip exited: %v\n%s", p.waitErr, p.Output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("baresip's command interface did not open: %v\n%s", err, p.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	go p.read()
	return p
}

// read takes netstrings ("LEN:JSON,") off the command connection.
func (p *Phone) read() {
	r := bufio.NewReader(p.ctrl)
	for {
		n, err := r.ReadString(':')
		if err != nil {
			close(p.resps)
			return
		}
		size, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(n, ":")))
		if err != nil || size < 0 || size > 1<<20 {
			close(p.resps)
			return
		}
		b := make([]byte, size+1)
		if _, err := io.ReadFull(r, b); err != nil {
			close(p.resps)
			return
		}
		var m struct {
			Event    bool `json:"event"`
			Response bool `json:"response"`
		}
		json.Unmarshal(b[:size], &m)
		switch {
		case m.Event:
			var e Event
			json.Unmarshal(b[:size], &e)
			p.mu.Lock()
			p.events = append(p.events, e)
			p.mu.Unlock()
		case m.Response:
			var res response
			json.Unmarshal(b[:size], &res)
			p.resps <- res
		}
	}
}

// Command runs one of baresip's commands (dial, sndcode, hangup, quit, ...).
func (p *Phone) Command(cmd, params string) error {
	p.mu.Lock()
	p.token++
	tok := strconv.Itoa(p.token)
	p.mu.Unlock()
	b, _ := json.Marshal(map[string]string{"command": cmd, "params": params, "token": tok})
	if _, err := fmt.Fprintf(p.ctrl, "%d:%s,", len(b), b); err != nil {
		return fmt.Errorf("baresip %s: %w", cmd, err)
	}
	select {
	case r, ok := <-p.resps:
		if !ok {
			return fmt.Errorf("baresip %s: command connection closed", cmd)
		}
		if !r.OK {
			return fmt.Errorf("baresip %s %s: %s", cmd, params, r.Data)
		}
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("baresip %s: no answer", cmd)
	}
}

// Dial calls uri (sip:user@host:port).
func (p *Phone) Dial(uri string) error { return p.Command("dial", uri) }

// Key sends digits as RFC 4733 telephone events.
func (p *Phone) Key(digits string) error { return p.Command("sndcode", digits) }

// WaitEvent waits up to timeout for the nth (from 1) event of type typ
// since the phone started, and returns it.
func (p *Phone) WaitEvent(typ string, nth int, timeout time.Duration) (Event, error) {
	deadline := time.Now().Add(timeout)
	for {
		seen := 0
		p.mu.Lock()
		for _, e := range p.events {
			if e.Type == typ {
				if seen++; seen == nth {
					p.mu.Unlock()
					return e, nil
				}
			}
		}
		p.mu.Unlock()
		if time.Now().After(deadline) {
			return Event{}, fmt.Errorf("baresip: %d %s events within %s, want %d", seen, typ, timeout, nth)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Heard is what the phone has recorded of the far end so far (8 kHz mono),
// read while it is still being written.
func (p *Phone) Heard() ([]int16, error) {
	files, _ := filepath.Glob(filepath.Join(p.dir, "rec", "*-dec.wav"))
	if len(files) == 0 {
		return nil, nil
	}
	b, err := os.ReadFile(files[len(files)-1])
	if err != nil {
		return nil, err
	}
	const header = 44 // RIFF/WAVE with a 16-byte fmt chunk, as libsndfile writes it
	if len(b) < header || string(b[:4]) != "RIFF" || string(b[36:40]) != "data" {
		return nil, fmt.Errorf("baresip recording %s: not a plain 44-byte-header WAV", files[0])
	}
	b = b[header:]
	out := make([]int16, len(b)/2)
	for i := range out {
		out[i] = int16(uint16(b[2*i]) | uint16(b[2*i+1])<<8)
	}
	return out, nil
}

// Output is everything baresip printed, its SIP trace included.
func (p *Phone) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Kill ends baresip at once (SIGKILL), as a phone that loses power: it
// sends nothing more, no BYE and no un-REGISTER.
func (p *Phone) Kill() {
	p.cmd.Process.Kill()
	<-p.exited
}

// stop asks baresip to quit, then kills it if it does not.
func (p *Phone) stop() {
	if p.ctrl != nil {
		b, _ := json.Marshal(map[string]string{"command": "quit", "token": "quit"})
		fmt.Fprintf(p.ctrl, "%d:%s,", len(b), b)
	}
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
	if p.ctrl != nil {
		p.ctrl.Close()
	}
}
