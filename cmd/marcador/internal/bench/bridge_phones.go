package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/marcador/marcador/dialer/agent/agenttest"
	"github.com/marcador/marcador/ivr/media"
)

// phonesSpec is what `bench bridge` tells its phones' process on stdin:
// passwords never go on a command line, where ps shows them.
type phonesSpec struct {
	Registrar string          `json:"registrar"`
	RTPPorts  media.PortRange `json:"rtp_ports"`
	Phones    []phoneCreds    `json:"phones"`
}

type phoneCreds struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// phonesRTP is where the agents' phones bind their media: clear of the
// node's (sip.rtp_ports) and the simulator's (40000-59999) ranges.
var phonesRTP = media.PortRange{Min: 60000, Max: 60998}

// startPhonesProcess runs the agents' phones as a child (`marcador bench
// bridge-phones`), like the simulator, so their RTP is not the node's CPU.
// It returns once every phone has registered; stop unregisters and closes
// them.
func startPhonesProcess(ctx context.Context, spec phonesSpec, nice int, stderr io.Writer) (stop func(), cpu func() time.Duration, err error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	cmd := farCmd(exe, []string{"bench", "bridge-phones"}, -1, nice)
	cmd.Stderr = stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start the agents' phones: %w", err)
	}
	stop = func() {
		in.Close() // end of input: the phones unregister and exit
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	if err := json.NewEncoder(in).Encode(spec); err != nil {
		stop()
		return nil, nil, fmt.Errorf("agents' phones: send their credentials: %w", err)
	}
	type answer struct {
		line string
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadString('\n')
		got <- answer{line, err}
		io.Copy(io.Discard, out)
	}()
	select {
	case a := <-got:
		if a.err != nil || !strings.HasPrefix(a.line, "phones: registered") {
			stop()
			return nil, nil, fmt.Errorf("agents' phones did not register: %q %v", a.line, a.err)
		}
	case <-ctx.Done():
		stop()
		return nil, nil, ctx.Err()
	}
	pid := cmd.Process.Pid
	return stop, func() time.Duration { return procCPU(pid) }, nil
}

// BridgePhones is the phones' process of `bench bridge`: it reads a
// phonesSpec from stdin, starts one agenttest phone per agent (their RTP
// on one shared pacer), registers each with digest, says "phones:
// registered N" on stdout, then answers the node's nailed-up calls until
// stdin ends, and unregisters.
func BridgePhones(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) error {
	var spec phonesSpec
	dec := json.NewDecoder(stdin)
	if err := dec.Decode(&spec); err != nil {
		return fmt.Errorf("bridge-phones: read the spec from stdin: %w", err)
	}
	pacer := media.NewPacer(0)
	defer pacer.Close()
	phones := make([]*agenttest.Phone, len(spec.Phones))
	defer func() {
		uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		for _, p := range phones {
			if p != nil {
				wg.Go(func() {
					p.Unregister(uctx)
					p.Close()
				})
			}
		}
		wg.Wait()
	}()
	for i, c := range spec.Phones {
		p, err := agenttest.Start(agenttest.Options{User: c.User, Password: c.Password, Registrar: spec.Registrar,
			RTPPorts: spec.RTPPorts, Pacer: pacer})
		if err != nil {
			return err
		}
		phones[i] = p
	}
	if err := parallel(ctx, len(phones), 10, func(i int) error {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return phones[i].Register(rctx)
	}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "phones: registered %d\n", len(phones))
	ended := make(chan struct{})
	go func() {
		io.Copy(io.Discard, dec.Buffered())
		io.Copy(io.Discard, stdin)
		close(ended)
	}()
	select {
	case <-ended:
	case <-ctx.Done():
	}
	return nil
}

// parallel runs fn(0..n-1), at most width at a time, and returns the first
// error.
func parallel(ctx context.Context, n, width int, fn func(i int) error) error {
	sem := make(chan struct{}, width)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(i); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}
