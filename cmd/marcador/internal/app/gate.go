package app

import (
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/marcador/marcador/cmd/marcador/internal/config"
	"github.com/marcador/marcador/queue/compliance"
)

// newGate builds the compliance gate; w gets the dnc_events rows of every
// listing and removal (the durable copy `marcador dnc rebuild` reads).
func newGate(c config.Config, rdb redis.UniversalClient, w compliance.Writer, log *slog.Logger, now func() time.Time) (*compliance.Gate, error) {
	cal, err := compliance.LoadCalendars(c.Compliance.HolidaysDir, log)
	if err != nil {
		return nil, err
	}
	return compliance.NewGate(compliance.GateOptions{Client: rdb, Calendars: cal, Profiles: c.Profiles(), Now: now, Logger: log,
		Writer: w, Node: c.NodeID})
}
