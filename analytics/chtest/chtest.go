// Package chtest gives tests a real ClickHouse: a fresh, migrated database on
// the development server (deploy/dev/up.sh), or a private server process that
// a test may stop and start.
package chtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/proctest"
)

// Addr is the native address of the development server: $MARCADOR_TEST_CLICKHOUSE
// or 127.0.0.1:19000.
func Addr() string {
	if a := os.Getenv("MARCADOR_TEST_CLICKHOUSE"); a != "" {
		return a
	}
	return "127.0.0.1:19000"
}

// Conn connects to the development server or fails the test with a hint.
func Conn(t testing.TB) driver.Conn {
	t.Helper()
	conn, err := analytics.Open(context.Background(), analytics.ConnOptions{Addr: []string{Addr()}})
	if err != nil {
		t.Fatalf("ClickHouse at %s is not reachable (start it with deploy/dev/up.sh): %v", Addr(), err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// Database creates a uniquely named, migrated database, dropped when the test ends.
func Database(t testing.TB, conn driver.Conn) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	db := "mtest_" + hex.EncodeToString(b)
	if _, err := analytics.Migrate(context.Background(), conn, db); err != nil {
		t.Fatalf("migrate %s: %v", db, err)
	}
	t.Cleanup(func() {
		if os.Getenv("MARCADOR_TEST_KEEP_DB") == "" {
			conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
		}
	})
	return db
}

// Server is a private clickhouse-server process with its data in a temp
// dir; Start and Stop come from proctest.Process.
type Server struct {
	*proctest.Process
	Addr string
}

// StartServer starts a private server on a free loopback port. It is stopped
// when the test ends.
func StartServer(t testing.TB) *Server {
	t.Helper()
	dir, port := t.TempDir(), proctest.FreePort(t)
	s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port)}
	for _, d := range []string{"data", "tmp", "user_files", "format_schemas", "log"} {
		os.MkdirAll(filepath.Join(dir, d), 0o750)
	}
	cfg := fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>%[1]s/log/ch.log</log><errorlog>%[1]s/log/ch.err.log</errorlog></logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>%[2]d</tcp_port>
  <mark_cache_size>67108864</mark_cache_size>
  <path>%[1]s/data/</path><tmp_path>%[1]s/tmp/</tmp_path>
  <user_files_path>%[1]s/user_files/</user_files_path><format_schema_path>%[1]s/format_schemas/</format_schema_path>
  <users_config>%[1]s/users.xml</users_config>
  <default_profile>default</default_profile><default_database>default</default_database>
  <timezone>UTC</timezone>
</yandex>`, dir, port)
	users := `<?xml version="1.0"?>
<yandex><profiles><default/></profiles>
<users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
<quotas><default/></quotas></yandex>`
	os.WriteFile(filepath.Join(dir, "config.xml"), []byte(cfg), 0o640)
	os.WriteFile(filepath.Join(dir, "users.xml"), []byte(users), 0o640)
	s.Process = proctest.New(t, proctest.Options{
		Bin: "clickhouse-server", Install: "apt-get install clickhouse-server",
		Args:  []string{"--config-file=" + filepath.Join(dir, "config.xml")},
		Ready: s.ping, Wait: 60 * time.Second, Poll: 100 * time.Millisecond,
		Addr: s.Addr, Log: filepath.Join(dir, "log", "ch.err.log"),
	})
	s.Start()
	return s
}

func (s *Server) ping() error {
	c, err := analytics.Open(context.Background(), analytics.ConnOptions{Addr: []string{s.Addr}, DialTimeout: time.Second})
	if err == nil {
		c.Close()
	}
	return err
}
