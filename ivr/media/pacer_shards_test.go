package media

import "testing"

// A pacer not told how many shards runs DefaultPacerShards (the number
// README and dialer.EndpointOptions name).
func TestPacerDefaultShards(t *testing.T) {
	for n, want := range map[int]int{0: DefaultPacerShards, -1: DefaultPacerShards, 3: 3} {
		p := NewPacer(n)
		if got := len(p.shards); got != want {
			t.Errorf("NewPacer(%d): %d shards, want %d", n, got, want)
		}
		p.Close()
	}
}
