// Package sparselog keeps a WARN that strangers on the network can provoke
// (INVITEs from unknown addresses, REGISTERs with wrong passwords) from
// flooding the log: a burst of lines, then about one a second, each saying
// how many were left out since the last.
package sparselog

import (
	"log/slog"
	"sync/atomic"

	"golang.org/x/time/rate"
)

// Log is one rate-limited line; its zero value is not usable (use New).
type Log struct {
	lim     *rate.Limiter
	dropped atomic.Int64
}

// New allows a burst of five lines, then one a second.
func New() *Log { return &Log{lim: rate.NewLimiter(1, 5)} }

// Warn writes msg at WARN to log unless over the rate, counting the lines
// it leaves out and reporting them with the next one written.
func (s *Log) Warn(log *slog.Logger, msg string, args ...any) {
	if !s.lim.Allow() {
		s.dropped.Add(1)
		return
	}
	if n := s.dropped.Swap(0); n > 0 {
		args = append(args, "not_logged_since_last", n)
	}
	log.Warn(msg, args...)
}
