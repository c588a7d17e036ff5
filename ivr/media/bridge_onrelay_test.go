package media

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// relaySeen records OnRelay calls.
type relaySeen struct {
	mu     sync.Mutex
	from   []Side
	at     []time.Time   // the received time given
	after  []time.Time   // when the call came
	called chan struct{} // a token per call, when made by newRelaySeen
}

func newRelaySeen() *relaySeen { return &relaySeen{called: make(chan struct{}, 64)} }

func (r *relaySeen) on(from Side, received time.Time) {
	now := time.Now()
	r.mu.Lock()
	r.from, r.at, r.after = append(r.from, from), append(r.at, received), append(r.after, now)
	r.mu.Unlock()
	select {
	case r.called <- struct{}{}:
	default: // nil (nobody waits) or more calls than a test waits for
	}
}

// wait waits (bounded) for n calls; the caller checks how many came.
func (r *relaySeen) wait(n int) {
	timeout := time.After(10 * time.Second)
	for range n {
		select {
		case <-r.called:
		case <-timeout:
			return
		}
	}
}

func (r *relaySeen) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.from)
}

// OnRelay is called once per packet sent on, with the side it came from and
// the time its leg read it; never for a packet the bridge dropped.
func TestOnRelaySeesEachRelayedPacket(t *testing.T) {
	var seen relaySeen
	r := newRelayRig(t, PCMU, PCMA, BridgeOptions{NoConnectTone: true, OnRelay: seen.on})
	pay := make([]byte, 160)
	read := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC) // the receive loop's stamp, as given
	deliver := func(leg *Session, phone *net.UDPConn, h rtp.Header, at time.Time) {
		h.Version = 2
		n, err := (&rtp.Packet{Header: h, Payload: pay}).MarshalTo(r.buf)
		if err != nil {
			t.Fatal(err)
		}
		leg.receiveAt(phoneAddr(phone), r.buf[:n], &r.pkt, &r.dtmf, nil, at, nil)
	}
	deliver(r.debtor, r.debtorPhone, rtp.Header{PayloadType: 0, SequenceNumber: 10, Timestamp: 1600, SSRC: 0xD}, read)
	deliver(r.agent, r.agentPhone, rtp.Header{PayloadType: 8, SequenceNumber: 20, Timestamp: 3200, SSRC: 0xA}, read.Add(time.Second))
	// Comfort noise is dropped: no call.
	deliver(r.debtor, r.debtorPhone, rtp.Header{PayloadType: 13, SequenceNumber: 11, Timestamp: 1760, SSRC: 0xD}, read)
	out(t, r.agentPhone)
	out(t, r.debtorPhone)
	if seen.count() != 2 {
		t.Fatalf("%d calls for 2 packets relayed and 1 dropped: %v", seen.count(), seen.from)
	}
	if seen.from[0] != Debtor || !seen.at[0].Equal(read) || seen.from[1] != Agent || !seen.at[1].Equal(read.Add(time.Second)) {
		t.Fatalf("calls %v at %v", seen.from, seen.at)
	}
	st := r.br.Stats()
	if st.DebtorToAgent.Packets != 1 || st.AgentToDebtor.Packets != 1 || st.DebtorToAgent.Dropped != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// Through the legs' receive loops, the time given is when the packet was
// read: after the phone sent it, before OnRelay runs.
func TestOnRelayTimesFromTheRead(t *testing.T) {
	seen := newRelaySeen()
	r := newRelayRig(t, PCMU, PCMU, BridgeOptions{NoConnectTone: true, OnRelay: seen.on})
	r.debtor.Start()
	r.agent.Start()
	pkt, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 2, Timestamp: 320, SSRC: 0xD},
		Payload: make([]byte, 160)}).Marshal()
	var sent []time.Time
	for i := range 5 {
		pkt[3] = byte(2 + i)
		sent = append(sent, time.Now())
		if _, err := r.debtorPhone.WriteToUDPAddrPort(pkt, r.debtor.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		out(t, r.agentPhone) // one at a time: each is relayed before the next is sent
	}
	seen.wait(5)
	seen.mu.Lock()
	defer seen.mu.Unlock()
	if len(seen.from) != 5 {
		t.Fatalf("%d calls for 5 packets", len(seen.from))
	}
	for i := range 5 {
		if seen.from[i] != Debtor || seen.at[i].Before(sent[i]) || seen.after[i].Before(seen.at[i]) {
			t.Fatalf("packet %d sent at %v: OnRelay(%v, %v) at %v", i, sent[i], seen.from[i], seen.at[i], seen.after[i])
		}
	}
}
