package media

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// Forward writes each datagram on as it came, reports when it read each
// one, and stops leaving both sockets open.
func TestForwardCopiesDatagrams(t *testing.T) {
	r := newRelayRig(t, PCMU, PCMU, BridgeOptions{}) // only its sockets are used
	r.br.Stop()
	in, outConn := r.debtor.conn, r.agent.conn
	var mu sync.Mutex
	var reads []time.Time
	forwarded := make(chan struct{}, 8)
	stop := Forward(in, outConn, phoneAddr(r.agentPhone), func(at time.Time) {
		mu.Lock()
		reads = append(reads, at)
		mu.Unlock()
		forwarded <- struct{}{}
	})
	buf := make([]byte, 1500)
	for i := range 3 {
		d := bytes.Repeat([]byte{byte(i + 1)}, 10+i) // not even RTP: nothing is parsed
		sent := time.Now()
		if _, err := r.debtorPhone.WriteToUDPAddrPort(d, r.debtor.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		r.agentPhone.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := r.agentPhone.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf[:n], d) || from != r.agent.LocalAddr() {
			t.Fatalf("got %x from %s, want %x from %s", buf[:n], from, d, r.agent.LocalAddr())
		}
		select { // onForward may run after the datagram is out
		case <-forwarded:
		case <-time.After(5 * time.Second):
		}
		mu.Lock()
		if len(reads) != i+1 || reads[i].Before(sent) {
			t.Fatalf("datagram %d sent at %v: reads %v", i, sent, reads)
		}
		mu.Unlock()
	}
	stop()
	// Both sockets still work, with no deadline left on in.
	if _, err := r.debtorPhone.WriteToUDPAddrPort([]byte{9}, r.debtor.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	in.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _, err := in.ReadFromUDPAddrPort(buf); err != nil || n != 1 {
		t.Fatalf("read after stop: %d %v", n, err)
	}
}
