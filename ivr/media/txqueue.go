package media

import (
	"net/netip"
	"time"
)

// txBatchSize is how many datagrams one sendmmsg or recvmmsg carries at
// most: a pacer shard's tick on one socket rarely holds more (2,000 calls
// over 16 shards and 4 sockets is about 32).
const txBatchSize = 64

// txQueue gathers the packets that leave shared sockets during one pacer
// tick or one received batch (relayed packets), and sends each socket's
// with one sendmmsg when flushed. The packets are not copied: a sender's
// frame stays in its buffer until the next tick, a relayed packet in the
// reader's receive buffer until the next read. Owned by one goroutine.
type txQueue struct {
	groups []txGroup
	queued int // packets queued since the last flush
}

type txGroup struct {
	mc   *muxConn
	b    *udpBatch
	ents []txEnt
}

// txEnt is what to account once a queued packet has gone (or failed): the
// session whose stream it continues, and the sender or relay direction
// that made it.
type txEnt struct {
	s         *Session
	sd        *sender   // a sender's frame: stamp the send interval
	d         *relayDir // a relayed packet: count it, call OnRelay
	at        time.Time // when the relayed packet was read
	bytes     int
	counts    relayCounts
	connected bool // this packet connects the bridge
}

// relayCounts says which of a relay direction's counters a packet moves.
type relayCounts struct{ transcoded bool }

// add queues p to go to to from the shared socket mc; a full batch is sent
// first. false when the batch cannot take it (to unreachable from the
// socket): nothing was queued.
func (q *txQueue) add(mc *muxConn, p []byte, to netip.AddrPort, e txEnt) bool {
	g := q.group(mc)
	if g == nil {
		return false
	}
	if g.b.n == txBatchSize {
		q.flushGroup(g)
	}
	if !g.b.add(p, to) {
		return false
	}
	g.ents = append(g.ents, e)
	q.queued++
	return true
}

func (q *txQueue) group(mc *muxConn) *txGroup {
	for i := range q.groups {
		if q.groups[i].mc == mc {
			return &q.groups[i]
		}
	}
	b, err := newUDPBatch(mc.sock, txBatchSize, 0)
	if err != nil {
		return nil // the socket is closing
	}
	q.groups = append(q.groups, txGroup{mc: mc, b: b, ents: make([]txEnt, 0, txBatchSize)})
	return &q.groups[len(q.groups)-1]
}

// flush sends everything queued and accounts each packet.
func (q *txQueue) flush() {
	q.queued = 0
	for i := range q.groups {
		if q.groups[i].b.n > 0 {
			q.flushGroup(&q.groups[i])
		}
	}
}

func (q *txQueue) flushGroup(g *txGroup) {
	g.b.flush()
	now := time.Now()
	for i := range g.ents {
		e := &g.ents[i]
		ok := !g.b.failed(i)
		if ok {
			e.s.sent.Add(1)
		}
		if e.d != nil {
			e.d.sent(e, ok)
		} else if ok {
			e.sd.stamp(e.s, now)
		}
		*e = txEnt{}
	}
	g.ents = g.ents[:0]
	g.b.reset()
}
