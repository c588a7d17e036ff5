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
	stop   chan struct{}
	wg     sync.WaitGroup
	next   atomic.Uint32
}

type pacerShard struct {
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
	p := &Pacer{stop: make(chan struct{})}
	for i := range shards {
		sh := &pacerShard{}
		sh.sessions.Store(&[]pacedSession{})
		p.shards = append(p.shards, sh)
		p.wg.Add(1)
		// Shards tick at staggered offsets, so their bursts of sends do not
		// queue behind each other.
		go p.run(sh, time.Duration(i)*FrameDuration/time.Duration(shards))
	}
	return p
}

// Close stops the ticks. Sessions still registered stop sending.
func (p *Pacer) Close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
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
	list = append(list, pacedSession{s: s, sd: s.newSender()})
	sh.sessions.Store(&list)
	sh.mu.Unlock()
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

// run ticks on absolute deadlines from its start on the monotonic clock, so
// a late tick is followed by an on-time one and streams never drift.
func (p *Pacer) run(sh *pacerShard, offset time.Duration) {
	defer p.wg.Done()
	start := time.Now().Add(offset)
	timer := time.NewTimer(FrameDuration)
	defer timer.Stop()
	q := &txQueue{}
	for n := int64(1); ; n++ {
		if d := time.Until(start.Add(time.Duration(n) * FrameDuration)); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-p.stop:
				return
			}
		} else {
			select {
			case <-p.stop:
				return
			default:
			}
		}
		// Frames for shared sockets are queued and leave in one sendmmsg per
		// socket once every session has had its turn; a per-call socket's
		// go at once.
		for _, ps := range *sh.sessions.Load() {
			ps.s.sendFrame(ps.sd, q)
		}
		q.flush()
	}
}
