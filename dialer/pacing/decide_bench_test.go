package pacing

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkPredictiveDecide is the cost of one tick of a live campaign: a
// warm predictive pacer deciding for n agents in every state (times in
// state spread over the handle time) with about 1.5 calls ringing per
// agent, the clock moving 250 ms a tick. "learning" also feeds the
// outcomes a campaign of that size produces between two ticks (the models
// move, and their cached forecast rows are rebuilt when they have moved
// enough), as the live loop does.
func BenchmarkPredictiveDecide(b *testing.B) {
	for _, n := range []int{5, 25, 100, 500} {
		for _, learning := range []bool{false, true} {
			name := fmt.Sprintf("agents=%d", n)
			if learning {
				name += "/learning"
			}
			b.Run(name, func(b *testing.B) {
				p := NewPredictive(PredictiveConfig{})
				warm(p)
				r := rand.New(rand.NewPCG(3, 4))
				s := history(&Snapshot{Now: t0, Trunk: Trunk{FreeChannels: NoLimit}, Settings: Settings{TargetAbandon: 0.03}})
				s.Agents = make([]Agent, n)
				for i := range s.Agents {
					s.Agents[i] = Agent{State: AgentState(r.IntN(4)), InState: time.Duration(r.IntN(200)) * time.Second}
				}
				s.Calls = make([]Call, n*3/2)
				for i := range s.Calls {
					s.Calls[i] = Call{Ringing: time.Duration(r.IntN(30000)) * time.Millisecond}
				}
				// Outcomes per tick: n agents at ~50 live answers an hour
				// each, one in ten calls live: n × 500 calls an hour.
				perTick := float64(n) * 500 / 3600 / 4
				var owed float64
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					s.Now = s.Now.Add(250 * time.Millisecond)
					for i := range s.Agents {
						s.Agents[i].InState += 250 * time.Millisecond
					}
					for i := range s.Calls {
						s.Calls[i].Ringing += 250 * time.Millisecond
					}
					if learning {
						for owed += perTick; owed >= 1; owed-- {
							p.Observe(Event{Kind: NotAnswered, At: s.Now, Duration: 30 * time.Second})
							p.Observe(Event{Kind: TalkEnded, At: s.Now, Duration: 150 * time.Second})
						}
					}
					p.Decide(s)
				}
			})
		}
	}
}
