package analytics

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// ConnOptions says how to reach ClickHouse over its native protocol (the only
// one clickhouse-go speaks to 18.16).
type ConnOptions struct {
	Addr     []string // host:port of the native protocol; default 127.0.0.1:9000
	Username string   // default "default"
	Password string
	// DialTimeout bounds connecting; default 5s.
	DialTimeout time.Duration
	// ReadTimeout bounds waiting for the server's next packet; default 60s
	// (an INSERT ... SELECT says nothing until it is done).
	ReadTimeout time.Duration
}

// Open connects to ClickHouse and checks it answers.
func Open(ctx context.Context, o ConnOptions) (driver.Conn, error) {
	conn, err := Dial(o)
	if err != nil {
		return nil, err
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 5 * time.Second
	}
	pctx, cancel := context.WithTimeout(ctx, o.DialTimeout)
	defer cancel()
	if err := conn.Ping(pctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("clickhouse %v: ping: %w", o.Addr, err)
	}
	return conn, nil
}

// Dial returns a connection pool without contacting the server, for a writer
// that must start (and spool) while ClickHouse is down. Tables are always
// named with their database, so the connection uses the server's default.
func Dial(o ConnOptions) (driver.Conn, error) {
	if len(o.Addr) == 0 {
		o.Addr = []string{"127.0.0.1:9000"}
	}
	if o.Username == "" {
		o.Username = "default"
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 60 * time.Second
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:             o.Addr,
		Protocol:         clickhouse.Native,
		Auth:             clickhouse.Auth{Username: o.Username, Password: o.Password},
		DialTimeout:      o.DialTimeout,
		MaxOpenConns:     8,
		MaxIdleConns:     4,
		ConnMaxLifetime:  time.Hour,
		ReadTimeout:      o.ReadTimeout,
		ConnOpenStrategy: clickhouse.ConnOpenInOrder,
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse %v: %w", o.Addr, err)
	}
	return conn, nil
}
