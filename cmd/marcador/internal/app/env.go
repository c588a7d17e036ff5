package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/spool"
	"github.com/marcador/marcador/analytics/writer"
	"github.com/marcador/marcador/cmd/marcador/internal/config"
	"github.com/marcador/marcador/queue"
)

// NewLogger writes log lines to w at c's level and in its format.
func NewLogger(c config.Log, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(strings.ToUpper(c.Level)))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func newRedis(c config.Redis) redis.UniversalClient {
	addrs := c.Addrs
	if len(addrs) == 0 {
		addrs = []string{c.Addr}
	}
	return redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs: addrs, MasterName: c.MasterName, Password: c.Password, DB: c.DB,
	})
}

func pingRedis(ctx context.Context, rdb redis.UniversalClient, c config.Redis) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis %s: %w", RedisAddr(c), err)
	}
	return nil
}

// RedisAddr names the Redis of c: its address, or its nodes' addresses.
func RedisAddr(c config.Redis) string {
	if len(c.Addrs) > 0 {
		return strings.Join(c.Addrs, ",")
	}
	return c.Addr
}

func chOptions(c config.ClickHouse) analytics.ConnOptions {
	return analytics.ConnOptions{Addr: []string{c.Addr}, Username: c.Username, Password: c.Password}
}

func newStore(rdb redis.UniversalClient, c config.Config, log *slog.Logger) *queue.Store {
	return queue.New(queue.Options{Client: rdb, NodeID: c.NodeID, Logger: log})
}

// newWriter opens the spool in dir (with c.Spool's limits) and returns the
// attempt writer.
func newWriter(conn driver.Conn, c config.Config, dir string, log *slog.Logger, reg prometheus.Registerer) (*writer.Writer, error) {
	pol, err := spool.ParseFsyncPolicy(c.Spool.Fsync)
	if err != nil {
		return nil, err
	}
	return writer.New(writer.Options{
		Conn: conn, Database: c.ClickHouse.Database, Logger: log, Metrics: writer.NewMetrics(reg),
		Spool:     spool.Options{Dir: dir, MaxBytes: int64(c.Spool.MaxBytes), Fsync: pol},
		BatchRows: c.Spool.BatchRows, FlushInterval: c.Spool.FlushInterval, MaxLag: c.Spool.MaxLag,
	})
}
