package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/chtest"
	"github.com/marcador/marcador/analytics/polltest"
	"github.com/marcador/marcador/analytics/spool"
	"github.com/marcador/marcador/cmd/marcador/internal/config"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/simcarrier"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
	"github.com/marcador/marcador/queue/redistest"
)

// testConfig is a node on the dev Redis and a fresh ClickHouse database,
// its spool in the test's directory.
func testConfig(t *testing.T) (config.Config, *analytics.Reader) {
	t.Helper()
	conn := chtest.Conn(t)
	db := chtest.Database(t, conn)
	cfg := config.Default()
	cfg.NodeID = "app-test"
	cfg.Redis.Addr = redistest.Addr()
	cfg.ClickHouse.Addr, cfg.ClickHouse.Database = chtest.Addr(), db
	cfg.Spool.Dir, cfg.Spool.FlushInterval = filepath.Join(t.TempDir(), "spool"), 50*time.Millisecond
	cfg.SIP.Listen = "127.0.0.1:0"
	cfg.SIP.RTPPorts = config.Ports{Min: 42000, Max: 42499}
	cfg.Log.Level = "warn"
	r, err := analytics.NewReader(conn, db)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, r
}

func TestPartsBringWhatTheyNeed(t *testing.T) {
	for _, c := range []struct {
		asked, want Parts
	}{
		{Writer, Writer | ClickHouse},
		{Gate, Gate | Redis | Writer | ClickHouse},
		{ReadGate, ReadGate | Redis},
		{Promises, Promises | Redis | Writer | ClickHouse},
		{Runner, Runner | Gate | Endpoint | Promises | Redis | Writer | ClickHouse},
		{HTTP, HTTP | Runner | Gate | Endpoint | Promises | Redis | Writer | ClickHouse},
		{CallbackLine | Sender, CallbackLine | Sender | Runner | Gate | Endpoint | Promises | Redis | Writer | ClickHouse},
		{Agents, Agents | Redis | Endpoint},
		{Node, Node},
	} {
		if got := c.asked.closure(); got != c.want {
			t.Errorf("%b brings %b, want %b", c.asked, got, c.want)
		}
	}
}

// Every gate the app builds has the writer: a listing is a dnc_events row,
// and Close's last flush delivers it (nobody flushes by hand).
func TestGateListingsReachClickHouseByClose(t *testing.T) {
	ctx := context.Background()
	cfg, read := testConfig(t)
	a, err := New(ctx, Options{Config: cfg, Parts: Gate, Schema: SchemaRequired, SpoolName: "dnc"})
	if err != nil {
		t.Fatal(err)
	}
	a.Start(ctx)
	phone := fmt.Sprintf("+52155%08d", time.Now().UnixNano()%1e8)
	e := compliance.DNCEntry{Phone: phone, Channel: "voice", Reason: "asked", Source: "api"}
	if err := a.Gate.AddDNC(ctx, e); err != nil {
		t.Fatal(err)
	}
	if err := a.Gate.RemoveDNC(ctx, e); err != nil { // and Redis is as it was
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	tables, err := read.Rows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range tables {
		if tr.Table == "dnc_events" && tr.Rows != 2 {
			t.Fatalf("dnc_events holds %d rows after Close, want the listing's and the removal's", tr.Rows)
		}
	}
	if _, err := os.Stat(filepath.Join(cfg.Spool.Dir, "dnc")); err != nil {
		t.Errorf("the writer's spool is not in <spool.dir>/dnc: %v", err)
	}
}

// A question-only gate builds no writer and takes no spool, so any number
// of `compliance explain` can run beside a serve.
func TestReadGateTakesNoSpool(t *testing.T) {
	ctx := context.Background()
	cfg, _ := testConfig(t)
	for range 2 {
		a, err := New(ctx, Options{Config: cfg, Parts: ReadGate})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if a.Gate == nil || a.Writer != nil || a.Conn != nil {
			t.Fatalf("ReadGate built gate %v, writer %v, conn %v", a.Gate != nil, a.Writer != nil, a.Conn != nil)
		}
	}
	if _, err := os.Stat(cfg.Spool.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("spool dir: %v, want none", err)
	}
}

// New closes what it built when a later part fails: the spool a failed
// start opened is free for the next.
func TestNewReleasesWhatItBuiltOnError(t *testing.T) {
	ctx := context.Background()
	cfg, _ := testConfig(t)
	held, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	_, err = New(ctx, Options{Config: cfg, Parts: Writer | Endpoint, SIPListen: held.LocalAddr().String()})
	if err == nil {
		t.Fatal("an endpoint on a taken port started")
	}
	a, err := New(ctx, Options{Config: cfg, Parts: Writer})
	if errors.Is(err, spool.ErrLocked) {
		t.Fatalf("the failed New left its spool locked: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
}

// Close stops the runner before the writer: a call in progress when Close
// begins finishes, and its attempt row is in ClickHouse when Close returns.
func TestCloseRecordsTheCallsInProgress(t *testing.T) {
	ctx := context.Background()
	cfg, read := testConfig(t)
	sim, err := simcarrier.Start(simcarrier.Options{Listen: "127.0.0.1:0", ByLastDigit: true, RTPPorts: media.PortRange{Min: 42500, Max: 42999},
		Ring: simcarrier.Range{Min: 50 * time.Millisecond, Max: 100 * time.Millisecond}, Talk: simcarrier.Range{Min: 3 * time.Second, Max: 3 * time.Second},
		DigitsFor: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	cfg.Trunks = []dialer.TrunkConfig{{Name: "sim", URI: "sip:" + sim.Addr(), CallerID: "+525550000100", CPS: 5, MaxChannels: 2}}
	cfg.PayLinks.Secret = "0123456789abcdef0123"
	// A Tuesday morning in Mexico City: the MX window is open.
	tuesday := func() time.Time { return time.Date(2026, 11, 24, 11, 0, 0, 0, time.FixedZone("CST", -6*3600)) }
	a, err := New(ctx, Options{Config: cfg, Parts: Runner, ComplianceClock: tuesday})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.Start(ctx)
	id := redistest.CampaignID(t, redistest.Client(t)) // its keys go when the test ends, after Close
	c := queue.Campaign{ID: id, Mode: queue.ModeIVR, Country: "MX", TimeZone: "America/Mexico_City", Profile: "MX", Trunk: "sim",
		Script: "reminder-overdue", MaxConcurrent: 1, PayURL: "https://pay.example/{token}"}
	if _, err := a.Store.PutCampaign(ctx, c, time.Now()); err != nil {
		t.Fatal(err)
	}
	acct := queue.Account{ID: "A1", NationalID: id + "-A1", Country: "MX", Phones: []queue.Phone{{Number: "+525512340010"}}, // 0: a person
		Balance: decimal.NewFromInt(1000), Currency: "MXN", DueDate: "2026-11-01", DaysPastDue: 23}
	a.Gate.Forget(ctx, compliance.Subject{Phone: acct.Phones[0].Number, Account: acct.ID, NationalID: acct.NationalID, Country: "MX"})
	if _, err := a.Store.Load(ctx, id, []queue.Account{acct}, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := a.Runner.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	polltest.Eventually(t, 30*time.Second, func() bool { return sim.Stats().Answered > 0 }, "the call to be answered")
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	as, err := read.Attempts(ctx, analytics.Scope{Campaigns: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	// The person listens and never proves who they are: not_verified.
	if len(as) != 1 || as[0].AccountID != "A1" || as[0].Disposition != analytics.NotVerified {
		t.Fatalf("attempts in ClickHouse after Close: %+v", as)
	}
}
