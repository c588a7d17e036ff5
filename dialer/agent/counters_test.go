package agent

import (
	"testing"
	"time"

	"github.com/marcador/marcador/dialer/pacing"
)

// Live answers and abandons per day in the campaign's zone and over 30
// rolling days, across a midnight that is not UTC's.
func TestAbandonCountsAcrossDays(t *testing.T) {
	e := newEnv(t)
	c := e.campaign()
	bogota, err := time.LoadLocation("America/Bogota") // UTC-5
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Set(time.Date(2030, 3, 12, 23, 59, 30, 0, bogota))
	for _, o := range []Outcome{Live, Live, Live, Abandoned} {
		if err := e.p.Count(e.ctx, c, o, bogota); err != nil {
			t.Fatal(err)
		}
	}
	e.clk.Add(time.Minute) // 00:00:30 on the 13th in Bogotá, 05:00:30 UTC
	for _, o := range []Outcome{Live, Live} {
		if err := e.p.Count(e.ctx, c, o, bogota); err != nil {
			t.Fatal(err)
		}
	}
	rates := func(zone *time.Location) Rates {
		t.Helper()
		r, err := e.p.Rates(e.ctx, c, zone)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	w := func(live, ab int64) pacing.WindowCounts { return pacing.WindowCounts{Live: live, Abandoned: ab} }
	if r := rates(bogota); r.Today != w(2, 0) || r.Rolling != w(5, 1) {
		t.Fatalf("Bogotá, the 13th: %+v", r)
	}
	if r := rates(bogota); Rate(r.Rolling) != 0.2 || Rate(r.Today) != 0 {
		t.Fatalf("rates %v %v", Rate(r.Rolling), Rate(r.Today))
	}
	// 30 days including today: the 12th is in the window until April 10.
	for _, x := range []struct {
		day     int // in April
		rolling pacing.WindowCounts
	}{{10, w(5, 1)}, {11, w(2, 0)}, {12, w(0, 0)}} {
		e.clk.Set(time.Date(2030, 4, x.day, 12, 0, 0, 0, bogota))
		if r := rates(bogota); r.Rolling != x.rolling || r.Today != w(0, 0) {
			t.Fatalf("April %d: %+v, want rolling %+v", x.day, r, x.rolling)
		}
	}
	// Each day expires on its own, kept long enough for the window.
	ttl := e.rdb.TTL(e.ctx, ck(c).answers("20300312")).Val()
	if ttl < 34*24*time.Hour || ttl > 35*24*time.Hour {
		t.Fatalf("day hash TTL %s", ttl)
	}
	if err := e.p.Count(e.ctx, c, "maybe", nil); err == nil {
		t.Fatal("an unknown outcome counted")
	}
}

// The last hour's and day's counts, to the five minutes, across UTC hours;
// older counts drop out as the clock moves.
func TestRecentAbandonCounts(t *testing.T) {
	e := newEnv(t)
	c := e.campaign()
	count := func(o ...Outcome) {
		t.Helper()
		for _, x := range o {
			if err := e.p.Count(e.ctx, c, x, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	recent := func() Recent {
		t.Helper()
		r, err := e.p.RecentRates(e.ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	w := func(live, ab int64) pacing.WindowCounts { return pacing.WindowCounts{Live: live, Abandoned: ab} }
	e.clk.Set(time.Date(2030, 3, 12, 9, 58, 0, 0, time.UTC))
	count(Live, Live, Abandoned) // 09:55 bucket
	e.clk.Set(time.Date(2030, 3, 12, 10, 31, 0, 0, time.UTC))
	count(Live) // 10:30 bucket
	if r := recent(); r.Hour != w(3, 1) || r.Day != w(3, 1) {
		t.Fatalf("10:31: %+v", r)
	}
	e.clk.Set(time.Date(2030, 3, 12, 11, 1, 0, 0, time.UTC)) // the hour starts at 10:00: 09:55 is out
	if r := recent(); r.Hour != w(1, 0) || r.Day != w(3, 1) {
		t.Fatalf("11:01: %+v", r)
	}
	e.clk.Set(time.Date(2030, 3, 13, 10, 1, 0, 0, time.UTC)) // the day starts at 10:00 on the 12th
	if r := recent(); r.Hour != w(0, 0) || r.Day != w(1, 0) {
		t.Fatalf("the 13th 10:01: %+v", r)
	}
	ttl := e.rdb.TTL(e.ctx, ck(c).answersHour("2030031210")).Val()
	if ttl < 25*time.Hour || ttl > recentRetention {
		t.Fatalf("hour hash TTL %s", ttl)
	}
}

// An agent's calls and time in each state are filed by the day (the pool's
// zone) each state is left, and Today adds the current state's time.
func TestAgentDayFigures(t *testing.T) {
	e := newEnv(t)
	mexico, _ := time.LoadLocation("America/Mexico_City")
	e.p = New(Options{Client: e.rdb, Now: e.clk.Now, Logger: quietLog(), Zone: mexico})
	c := e.campaign()
	id := e.agent(c)
	at := func(day, h, m int) { e.clk.Set(time.Date(2030, 3, day, h, m, 0, 0, mexico)) }
	at(12, 22, 0)
	e.must(e.p.Login(e.ctx, id, c, "n1", false)) // paused 22:00-23:00
	at(12, 23, 0)
	e.must(e.p.Ready(e.ctx, id)) // ready 23:00-23:30
	at(12, 23, 30)
	r, _, _ := e.p.Reserve(e.ctx, c, "n1", "k1") // reserved 23:30-23:31
	at(12, 23, 31)
	e.must(e.p.Connect(e.ctx, r)) // talking 23:31-00:10
	at(13, 0, 10)
	e.must(e.p.Hangup(e.ctx, r)) // wrap 00:10-00:11
	at(13, 0, 11)
	e.must(e.p.EndWrap(e.ctx, r)) // ready from 00:11
	at(13, 0, 41)
	day := func(d string) DayStats {
		t.Helper()
		pipe := e.rdb.Pipeline()
		cmd := dayCmd(e.ctx, pipe, ck(c).agentDay(d), id)
		pipe.Exec(e.ctx)
		return parseDay(cmd.Val())
	}
	if d := day("20300312"); d != (DayStats{Calls: 1, Paused: time.Hour, Ready: 30 * time.Minute, Reserved: time.Minute}) {
		t.Fatalf("the 12th: %+v", d)
	}
	if d := day("20300313"); d != (DayStats{Talk: 39 * time.Minute, Wrap: time.Minute}) {
		t.Fatalf("the 13th: %+v", d)
	}
	d, err := e.p.Today(e.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if d != (DayStats{Talk: 39 * time.Minute, Wrap: time.Minute, Ready: 30 * time.Minute}) {
		t.Fatalf("Today on the 13th: %+v", d)
	}
}

// RatesWith agrees with Rates while it reads the window's ended days only
// when its copy of them is from another day or zone, or stale: a count a
// lagging node makes into yesterday shows within pastFresh.
func TestRatesWithReadsEndedDaysWhenStale(t *testing.T) {
	e := newEnv(t)
	c := e.campaign()
	bogota, err := time.LoadLocation("America/Bogota")
	if err != nil {
		t.Fatal(err)
	}
	count := func(zone *time.Location, o ...Outcome) {
		t.Helper()
		for _, x := range o {
			if err := e.p.Count(e.ctx, c, x, zone); err != nil {
				t.Fatal(err)
			}
		}
	}
	var past PastDays
	check := func(what string) Rates {
		t.Helper()
		want, err := e.p.Rates(e.ctx, c, bogota)
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.p.RatesWith(e.ctx, c, bogota, &past)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("%s: RatesWith %+v, Rates %+v", what, got, want)
		}
		return got
	}
	e.clk.Set(time.Date(2030, 3, 12, 10, 0, 0, 0, bogota))
	count(bogota, Live, Live, Abandoned)
	e.clk.Set(time.Date(2030, 3, 13, 10, 0, 0, 0, bogota))
	count(bogota, Live)
	check("first read")
	count(bogota, Live, Abandoned, Machine)
	if r := check("today's counts moved"); r.Rolling.Live != 4 || r.Today.Machine != 1 {
		t.Fatalf("%+v", r)
	}
	// A node whose clock is behind counts into yesterday: not seen until
	// the copy of the ended days is stale.
	e.clk.Add(-24 * time.Hour)
	count(bogota, Live)
	e.clk.Add(24*time.Hour + time.Minute)
	if got, err := e.p.RatesWith(e.ctx, c, bogota, &past); err != nil || got.Rolling.Live != 4 {
		t.Fatalf("within %s of the last full read: %+v %v (the ended days were read again)", pastFresh, got, err)
	}
	e.clk.Add(pastFresh)
	if r := check("stale copy"); r.Rolling.Live != 5 {
		t.Fatalf("%+v", r)
	}
	// Another zone, and the next day, read everything again.
	if got, err := e.p.RatesWith(e.ctx, c, time.UTC, &past); err != nil || past.Zone != "UTC" || got.Rolling.Live != 5 {
		t.Fatalf("UTC: %+v %+v %v", got, past, err)
	}
	e.clk.Add(24 * time.Hour)
	count(bogota, Abandoned)
	if r := check("the next day"); r.Today.Abandoned != 1 || r.Rolling.Live != 5 || r.Rolling.Abandoned != 3 {
		t.Fatalf("%+v", r)
	}
}
