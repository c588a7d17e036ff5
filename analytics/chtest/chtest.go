// Package chtest gives tests a real ClickHouse: a fresh, migrated database on
// the development server (deploy/dev/up.sh), or a private server process that
// a test may stop and start.
package chtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/marcador/marcador/analytics"
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

// Server is a private clickhouse-server process with its data in a temp dir.
type Server struct {
	Addr string
	dir  string
	port int
	cmd  *exec.Cmd
	t    testing.TB
}

// StartServer starts a private server on a free loopback port. It is stopped
// when the test ends.
func StartServer(t testing.TB) *Server {
	t.Helper()
	_, err := exec.LookPath("clickhouse-server")
	if err != nil {
		t.Fatalf("clickhouse-server not installed (apt-get install clickhouse-server): %v", err)
	}
	s := &Server{dir: t.TempDir(), port: freePort(t), t: t}
	s.Addr = "127.0.0.1:" + strconv.Itoa(s.port)
	for _, d := range []string{"data", "tmp", "user_files", "format_schemas", "log"} {
		os.MkdirAll(filepath.Join(s.dir, d), 0o750)
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
</yandex>`, s.dir, s.port)
	users := `<?xml version="1.0"?>
<yandex><profiles><default/></profiles>
<users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
<quotas><default/></quotas></yandex>`
	os.WriteFile(filepath.Join(s.dir, "config.xml"), []byte(cfg), 0o640)
	os.WriteFile(filepath.Join(s.dir, "users.xml"), []byte(users), 0o640)
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start launches the server (again) and waits until it answers.
func (s *Server) Start() {
	s.t.Helper()
	s.cmd = exec.Command("clickhouse-server", "--config-file="+filepath.Join(s.dir, "config.xml"))
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start clickhouse-server: %v", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		c, err := analytics.Open(context.Background(), analytics.ConnOptions{Addr: []string{s.Addr}, DialTimeout: time.Second})
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(s.dir, "log", "ch.err.log"))
	s.t.Fatalf("private clickhouse-server on %s did not come up: %s", s.Addr, b)
}

// Stop terminates the server and waits for it to exit.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	s.cmd = nil
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
