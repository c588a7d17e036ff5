package sipptest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Capture records the UDP datagrams on loopback that match a filter, with
// dumpcap (Wireshark's capture engine, Debian's wireshark-common): how a
// test hears what reached sipp, which keeps no audio of its own.
type Capture struct {
	cmd    *exec.Cmd
	file   string
	stderr strings.Builder
	done   chan error
	stop   sync.Once
}

// Datagram is one captured UDP datagram.
type Datagram struct {
	At       time.Time
	Src, Dst netip.AddrPort
	Payload  []byte
}

// StartCapture captures the datagrams on lo that match filter (a BPF
// expression, e.g. "udp and host 127.3.4.5") until Stop, and is stopped when
// the test ends. It fails when dumpcap is missing or may not capture
// (capturing needs root or CAP_NET_RAW).
func StartCapture(t testing.TB, filter string) (*Capture, error) {
	t.Helper()
	if _, err := exec.LookPath("dumpcap"); err != nil {
		return nil, errors.New("no dumpcap (apt-get install tshark)")
	}
	c := &Capture{file: filepath.Join(t.TempDir(), "capture.pcap"), done: make(chan error, 1)}
	c.cmd = exec.Command("dumpcap", "-i", "lo", "-f", filter, "-P", "-q", "-w", c.file)
	pipe, err := c.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("dumpcap: %w", err)
	}
	// dumpcap says so once it captures; anything else first is why not.
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		said := false
		for sc.Scan() {
			c.stderr.WriteString(sc.Text() + "\n")
			if !said && strings.HasPrefix(sc.Text(), "Capturing on") {
				said = true
				ready <- true
			}
		}
		if !said {
			ready <- false
		}
		c.done <- c.cmd.Wait()
	}()
	t.Cleanup(func() { c.Stop() })
	select {
	case ok := <-ready:
		if !ok {
			return nil, fmt.Errorf("dumpcap cannot capture: %s", strings.TrimSpace(c.stderr.String()))
		}
	case <-time.After(30 * time.Second):
		return nil, errors.New("dumpcap did not start capturing")
	}
	return c, nil
}

// Stop ends the capture and returns the datagrams it saw, in order.
func (c *Capture) Stop() ([]Datagram, error) {
	c.stop.Do(func() {
		c.cmd.Process.Signal(syscall.SIGTERM) // dumpcap writes what it has and exits
		select {
		case <-c.done:
		case <-time.After(30 * time.Second):
			c.cmd.Process.Kill()
			<-c.done
		}
	})
	b, err := os.ReadFile(c.file)
	if err != nil {
		return nil, err
	}
	return parsePcap(b)
}

// parsePcap reads a libpcap file of Ethernet frames (Linux's lo) and keeps
// the IPv4 UDP datagrams.
func parsePcap(b []byte) ([]Datagram, error) {
	if len(b) < 24 {
		return nil, errors.New("pcap: short file")
	}
	le := binary.LittleEndian
	var nano bool
	switch le.Uint32(b) {
	case 0xa1b2c3d4:
	case 0xa1b23c4d:
		nano = true
	default:
		return nil, fmt.Errorf("pcap: magic %#x (want a little-endian pcap, not pcapng)", le.Uint32(b))
	}
	if link := le.Uint32(b[20:]); link != 1 {
		return nil, fmt.Errorf("pcap: link type %d, want Ethernet", link)
	}
	var out []Datagram
	for p := b[24:]; len(p) >= 16; {
		sec, frac, n := le.Uint32(p), le.Uint32(p[4:]), int(le.Uint32(p[8:]))
		if len(p) < 16+n {
			break // the last record, cut short
		}
		frame := p[16 : 16+n]
		p = p[16+n:]
		if len(frame) < 14+20 || binary.BigEndian.Uint16(frame[12:]) != 0x0800 {
			continue
		}
		ip := frame[14:]
		ihl := int(ip[0]&0x0f) * 4
		if ip[9] != 17 || len(ip) < ihl+8 {
			continue
		}
		udp := ip[ihl:]
		src, _ := netip.AddrFromSlice(ip[12:16])
		dst, _ := netip.AddrFromSlice(ip[16:20])
		ns := int64(frac) * 1000
		if nano {
			ns = int64(frac)
		}
		out = append(out, Datagram{At: time.Unix(int64(sec), ns),
			Src:     netip.AddrPortFrom(src, binary.BigEndian.Uint16(udp)),
			Dst:     netip.AddrPortFrom(dst, binary.BigEndian.Uint16(udp[2:])),
			Payload: udp[8:]})
	}
	return out, nil
}
