package sim

// evKind is what happens at an event.
type evKind uint8

const (
	evTick       evKind = iota // the pacer decides
	evRingEnd                  // a call's ring ends: live, machine or no answer
	evAbandon                  // a live answer's wait for an agent runs out
	evTalkEnd                  // an agent's call ends; wrap-up starts
	evWrapEnd                  // an agent's wrap-up ends
	evMachineEnd               // a machine's call is hung up after detection
	evScenario                 // a scenario change
	evBreakEnd                 // an agent's break ends
)

type event struct {
	at   int64 // ns since the shift started
	seq  uint64
	kind evKind
	id   int32 // call, agent or scenario entry
}

// events is a binary min-heap by (at, seq): same-time events run in the
// order they were scheduled, so a run is deterministic.
type events []event

func (h events) less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}

func (h *events) push(e event) {
	*h = append(*h, e)
	q := *h
	i := len(q) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

func (h *events) pop() event {
	q := *h
	top := q[0]
	n := len(q) - 1
	q[0] = q[n]
	q = q[:n]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && q.less(l, m) {
			m = l
		}
		if r < n && q.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return top
}
