package agent

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/marcador/marcador/analytics/chtest"
	"github.com/marcador/marcador/analytics/writer/writertest"
)

// Every state an agent leaves is an agent_states row (its campaign, the
// node holding the agent, the pause reason), read back from ClickHouse: a
// shift of login, ready, a call (reserved, talking, wrap-up), a break and
// logout, then a login that the node's eviction ends. Time logged out is
// no row.
func TestStateExitsAreAgentStateRows(t *testing.T) {
	e := newEnv(t)
	conn := chtest.Conn(t)
	db := chtest.Database(t, conn)
	w := writertest.Start(t, conn, db)
	e.p = New(Options{Client: e.rdb, Now: e.clk.Now, Logger: quietLog(), LeaseTTL: 30 * time.Second, States: w})
	c := e.campaign()
	id := e.agent(c)
	node := "n-" + rnd()
	step := func(d time.Duration, what string, f func() error) {
		t.Helper()
		e.clk.Add(d)
		if err := f(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	st := func(_ Status, err error) error { return err }
	var r Reservation
	step(0, "login", func() error { return st(e.p.Login(e.ctx, id, c, node, false)) })
	step(time.Second, "ready", func() error { return st(e.p.Ready(e.ctx, id)) })
	step(10*time.Second, "reserve", func() error {
		var ok bool
		var err error
		if r, ok, err = e.p.Reserve(e.ctx, c, node, "call-1"); err == nil && !ok {
			err = fmt.Errorf("nobody reserved")
		}
		return err
	})
	step(time.Second, "connect", func() error { return st(e.p.Connect(e.ctx, r)) })
	step(30*time.Second, "hangup", func() error { return st(e.p.Hangup(e.ctx, r)) })
	step(5*time.Second, "end wrap", func() error { return st(e.p.EndWrap(e.ctx, r)) })
	step(20*time.Second, "pause", func() error { return st(e.p.Pause(e.ctx, id, "break")) })
	step(60*time.Second, "logout", func() error { return st(e.p.Logout(e.ctx, id)) })
	step(3*time.Second, "login again", func() error { return st(e.p.Login(e.ctx, id, c, node, true)) })
	step(5*time.Second, "evict", func() error { _, err := e.p.Evict(e.ctx, node, "node_restarted"); return err })
	if err := w.Flush(e.ctx); err != nil {
		t.Fatal(err)
	}

	rows, err := conn.Query(context.Background(), "SELECT agent_id, campaign_id, node_id, state, reason, "+
		"toUInt32(started_at) - ?, toUInt32(ended_at) - ? FROM "+db+".agent_states FINAL ORDER BY started_at, ended_at",
		uint32(base.Unix()), uint32(base.Unix()))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var agent, campaign, n, state, reason string
		var from, to int64
		if err := rows.Scan(&agent, &campaign, &n, &state, &reason, &from, &to); err != nil {
			t.Fatal(err)
		}
		if agent != id || campaign != c || n != node {
			t.Errorf("row of %s in %s on %s, want %s in %s on %s", agent, campaign, n, id, c, node)
		}
		got = append(got, fmt.Sprintf("%s %s %d-%d", state, reason, from, to))
	}
	want := []string{"paused login 0-1", "ready  1-11", "reserved  11-12", "talking  12-42", "wrap_up  42-47",
		"ready  47-67", "paused break 67-127", "ready  130-135"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("agent_states rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
