package media

import (
	"sync"
	"sync/atomic"
	"time"
)

// Pacer sends the next frame of every session registered with it on shared
// 20 ms ticks. A thousand calls then cost one timer wake-up per shard per
// tick instead of one per call, which is most of what pacing costs the Go
// scheduler; each session's packets still leave 20 ms apart because its place
// in the tick does not change.
type Pacer struct {
	shards []*pacerShard
	stop   sync.Once
	done   chan struct{} // closed by Close: wakes idle shards
	wg     sync.WaitGroup
	next   atomic.Uint32
}

type pacerShard struct {
	tick     ticker
	wake     chan struct{} // a session joined an empty shard (buffered: 1)
	mu       sync.Mutex
	sessions atomic.Pointer[[]pacedSession] // copied on write; the tick reads it without a lock
}

type pacedSession struct {
	s  *Session
	sd *sender
}

// DefaultPacerShards is how many goroutines a pacer sends on when not told
// (dialer.EndpointOptions.PacerShards 0); the one place that number is set.
const DefaultPacerShards = 16

// NewPacer starts a pacer with the given number of shards (0:
// DefaultPacerShards): each ticks on its own goroutine, offset from the
// others, and sends for its sessions; Close stops it.
func NewPacer(shards int) *Pacer {
	if shards <= 0 {
		shards = DefaultPacerShards
	}
	p := &Pacer{done: make(chan struct{})}
	for i := range shards {
		// Shards tick at staggered offsets, so their bursts of sends do not
		// queue behind each other.
		sh := &pacerShard{tick: newTicker(time.Duration(i) * FrameDuration / time.Duration(shards)), wake: make(chan struct{}, 1)}
		sh.sessions.Store(&[]pacedSession{})
		p.shards = append(p.shards, sh)
		p.wg.Add(1)
		go p.run(sh)
	}
	return p
}

// Close stops the ticks. Sessions still registered stop sending.
func (p *Pacer) Close() {
	p.stop.Do(func() {
		close(p.done)
		for _, sh := range p.shards {
			sh.tick.close()
		}
	})
	p.wg.Wait()
}

// Sessions is how many sessions are paced now.
func (p *Pacer) Sessions() int {
	n := 0
	for _, sh := range p.shards {
		n += len(*sh.sessions.Load())
	}
	return n
}

func (p *Pacer) add(s *Session) *pacerShard {
	sh := p.shards[int(p.next.Add(1))%len(p.shards)]
	sh.mu.Lock()
	old := *sh.sessions.Load()
	list := make([]pacedSession, len(old), len(old)+1)
	copy(list, old)
	sd := s.newSender()
	s.sendMu.Lock()
	s.psd = sd
	s.sendMu.Unlock()
	list = append(list, pacedSession{s: s, sd: sd})
	sh.sessions.Store(&list)
	sh.mu.Unlock()
	if len(old) == 0 {
		select { // the shard may be idle
		case sh.wake <- struct{}{}:
		default:
		}
	}
	return sh
}

func (sh *pacerShard) remove(s *Session) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	old := *sh.sessions.Load()
	list := make([]pacedSession, 0, len(old))
	for _, ps := range old {
		if ps.s != s {
			list = append(list, ps)
		}
	}
	sh.sessions.Store(&list)
}

// run sends its sessions' frames on every tick. Ticks are on absolute
// deadlines from the shard's start on the monotonic clock, so a late tick
// is followed by an on-time one and streams never drift; a shard that fell
// more than a tick behind sends the frames it owes at once.
func (p *Pacer) run(sh *pacerShard) {
	defer p.wg.Done()
	q := &txQueue{}
	for {
		if len(*sh.sessions.Load()) == 0 {
			// Idle until a session joins: an endpoint with no calls costs
			// no wake-ups (twenty idle pacers ticking cost 28% of a core).
			select {
			case <-sh.wake:
			case <-p.done:
				return
			}
			sh.tick.skip() // the ticks that passed while idle are not owed
		}
		ticks := sh.tick.wait()
		if ticks == 0 {
			return
		}
		now := time.Now() // the tick's: each session's frame is due now
		for range ticks {
			// Frames for shared sockets are queued and leave in one sendmmsg
			// per socket once every session has had its turn; a per-call
			// socket's go at once.
			for _, ps := range *sh.sessions.Load() {
				ps.s.paceFrame(ps.sd, q, now)
			}
			q.flush()
		}
	}
}

// paceFrame is a pacer tick's frame for s (sendFrame under sendMu, which
// sendFirst shares).
func (s *Session) paceFrame(sd *sender, q *txQueue, now time.Time) {
	s.sendMu.Lock()
	s.sendFrame(sd, q, now)
	s.sendMu.Unlock()
}

// sendFirst sends a paced session's first packet now, not at its shard's
// next tick (up to 20 ms away): at Start when the peer may be sent to
// already (an outbound call's probe), and when the peer's first packet
// latches the session (a session that latches before it sends). Whoever
// waits on the far side for our first packet (a peer that latches first,
// then answers on its own next tick) then hears us at once; that wait is
// most of an answered call's way to its first packet relayed. The packet is
// the sender's next frame with its usual timestamp; the following one
// still leaves on the tick, so that one interval is short. Nothing happens
// once the sender has sent, while a bridge owns the stream, or on hold.
func (s *Session) sendFirst() {
	if !s.firstDue.Load() {
		return
	}
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	sd := s.psd
	if sd == nil || sd.started {
		return
	}
	s.mu.Lock()
	ready := s.relay == nil && !s.hold && s.targetLocked(time.Now()).IsValid()
	s.mu.Unlock()
	if ready {
		s.sendFrame(sd, nil, time.Now())
	}
}
