package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/marcador/marcador/dialer/pacing"
)

// Outcome is what a campaign's abandon rate counts.
type Outcome string

const (
	// Live: a person answered (the denominator of the abandon rate).
	Live Outcome = "live"
	// Abandoned: a live answer found no agent in time (the numerator). An
	// abandoned call is also a live answer: count both.
	Abandoned Outcome = "abandoned"
	// Machine: answering-machine detection found a machine (not a live
	// answer): the pacer's machine rate.
	Machine Outcome = "machine"
)

// RollingDays is the length of the US (Reg F) abandon window.
const RollingDays = 30

// Count adds one outcome to the campaign's counts of today, the day in zone
// (the campaign's time zone; nil is UTC) at the pool's clock, and of its
// five minutes (for the last hour's and day's rates, RecentRates). Each day
// is a hash kept 35 days after its last write; each UTC hour's five-minute
// counts a hash kept 26 hours.
func (p *Pool) Count(ctx context.Context, campaign string, o Outcome, zone *time.Location) error {
	if err := checkRef("campaign", campaign); err != nil {
		return err
	}
	if o != Live && o != Abandoned && o != Machine {
		return fmt.Errorf("count %q in %s: want live, abandoned or machine", o, campaign)
	}
	if zone == nil {
		zone = time.UTC
	}
	now := p.now()
	key := ck(campaign).answers(now.In(zone).Format(dayFmt))
	hour, slot := fiveMinutes(now)
	hkey := ck(campaign).answersHour(hour)
	_, err := p.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.HIncrBy(ctx, key, string(o), 1)
		pipe.Expire(ctx, key, retention)
		pipe.HIncrBy(ctx, hkey, fmt.Sprintf("%s:%02d", o, slot), 1)
		pipe.Expire(ctx, hkey, recentRetention)
		return nil
	})
	if err != nil {
		return fmt.Errorf("count %s in %s: %w", o, campaign, err)
	}
	return nil
}

// Rates are a campaign's live answers and abandons: today (the UK rule, per
// campaign per day) and over the last RollingDays days including today (the
// US rule; calendar days in the campaign's zone).
type Rates struct {
	Today   pacing.WindowCounts `json:"today"`
	Rolling pacing.WindowCounts `json:"rolling_30d"`
}

// Rate is abandoned ÷ live (0 with no live answer).
func Rate(w pacing.WindowCounts) float64 {
	if w.Live == 0 {
		return 0
	}
	return float64(w.Abandoned) / float64(w.Live)
}

// Rates reads the campaign's counts in one round trip (the day hashes share
// the campaign's slot).
func (p *Pool) Rates(ctx context.Context, campaign string, zone *time.Location) (Rates, error) {
	r, _, _, err := p.rates(ctx, campaign, zone, nil)
	return r, err
}

// PastDays is what RatesWith keeps between reads: the counts of the days
// of the rolling window before today, as read on Day (in Zone) at At.
type PastDays struct {
	Zone, Day string
	At        time.Time
	Counts    pacing.WindowCounts
}

// pastFresh is how long RatesWith trusts the past days it read. A count
// goes to the day of the clock of the node that makes it, so yesterday can
// still change just after midnight on a node whose clock is behind.
const pastFresh = 5 * time.Minute

// RatesWith is Rates for a loop that asks every second: today's hash is
// read each time, and the window's other days (which have ended) only when
// past is from another day, older than a few minutes, or empty. past is
// the caller's, updated here.
func (p *Pool) RatesWith(ctx context.Context, campaign string, zone *time.Location, past *PastDays) (Rates, error) {
	r, now, full, err := p.rates(ctx, campaign, zone, past)
	if err == nil && full {
		past.Zone, past.Day, past.At = now.Location().String(), now.Format(dayFmt), now
		past.Counts = pacing.WindowCounts{Live: r.Rolling.Live - r.Today.Live, Abandoned: r.Rolling.Abandoned - r.Today.Abandoned,
			Machine: r.Rolling.Machine - r.Today.Machine}
	}
	return r, err
}

// rates reads today's counts and, unless past (when given) still holds
// them, the window's other days (full), in one round trip; now is the
// clock's reading in zone that chose the days.
func (p *Pool) rates(ctx context.Context, campaign string, zone *time.Location, past *PastDays) (r Rates, now time.Time, full bool, err error) {
	if err := checkRef("campaign", campaign); err != nil {
		return Rates{}, time.Time{}, false, err
	}
	if zone == nil {
		zone = time.UTC
	}
	now = p.now().In(zone)
	days := RollingDays
	reuse := past != nil && past.Zone == zone.String() && past.Day == now.Format(dayFmt) && !now.Before(past.At) && now.Sub(past.At) < pastFresh
	if reuse {
		days = 1
	}
	k := ck(campaign)
	pipe := p.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, days)
	for i := range cmds {
		// AddDate on the calendar date, so a DST day counts as one day.
		d := time.Date(now.Year(), now.Month(), now.Day()-i, 12, 0, 0, 0, zone)
		cmds[i] = pipe.HMGet(ctx, k.answers(d.Format(dayFmt)), string(Live), string(Abandoned), string(Machine))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return Rates{}, now, false, fmt.Errorf("abandon counts of %s: %w", campaign, err)
	}
	if reuse {
		r.Rolling = past.Counts
	}
	for i, c := range cmds {
		v := c.Val()
		w := pacing.WindowCounts{Live: num(v[0]), Abandoned: num(v[1]), Machine: num(v[2])}
		if i == 0 {
			r.Today = w
		}
		r.Rolling.Live += w.Live
		r.Rolling.Abandoned += w.Abandoned
		r.Rolling.Machine += w.Machine
	}
	return r, now, !reuse, nil
}

// fiveMinutes names t's UTC hour and the start of its five minutes in it.
func fiveMinutes(t time.Time) (hour string, minute int) {
	t = t.UTC()
	return t.Format(hourFmt), t.Minute() / 5 * 5
}

// Recent are a campaign's live answers and abandons over the last hour and
// the last 24 hours, to the five minutes (a window takes in the whole
// five minutes it starts in: 60-65 minutes, 24 h-24 h 5 min).
type Recent struct {
	Hour pacing.WindowCounts `json:"last_hour"`
	Day  pacing.WindowCounts `json:"last_24h"`
}

// RecentRates reads the campaign's five-minute counts of the last 25 hours
// in one round trip.
func (p *Pool) RecentRates(ctx context.Context, campaign string) (Recent, error) {
	if err := checkRef("campaign", campaign); err != nil {
		return Recent{}, err
	}
	now := p.now().UTC()
	start := now.Truncate(time.Hour).Add(-24 * time.Hour)
	pipe := p.rdb.Pipeline()
	var cmds []*redis.MapStringStringCmd
	var hours []time.Time
	for h := start; !h.After(now); h = h.Add(time.Hour) {
		hours = append(hours, h)
		cmds = append(cmds, pipe.HGetAll(ctx, ck(campaign).answersHour(h.Format(hourFmt))))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return Recent{}, fmt.Errorf("recent abandon counts of %s: %w", campaign, err)
	}
	from := func(d time.Duration) time.Time { return now.Add(-d).Truncate(5 * time.Minute) }
	hourFrom, dayFrom := from(time.Hour), from(24*time.Hour)
	var r Recent
	for i, c := range cmds {
		for f, v := range c.Val() {
			o, mm, ok := strings.Cut(f, ":")
			m, err := strconv.Atoi(mm)
			if !ok || err != nil {
				continue
			}
			at := hours[i].Add(time.Duration(m) * time.Minute)
			n, _ := strconv.ParseInt(v, 10, 64)
			for _, w := range []struct {
				from time.Time
				c    *pacing.WindowCounts
			}{{hourFrom, &r.Hour}, {dayFrom, &r.Day}} {
				if at.Before(w.from) || at.After(now) {
					continue
				}
				switch Outcome(o) {
				case Live:
					w.c.Live += n
				case Abandoned:
					w.c.Abandoned += n
				}
			}
		}
	}
	return r, nil
}

func num(v any) int64 {
	s, _ := v.(string)
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// DayStats are an agent's figures of one day (the pool's Zone): calls
// connected and the time spent in each state. Time in a state is added when
// the agent leaves it, to the day it is left; Today adds the current state's
// time so far.
type DayStats struct {
	Calls    int64         `json:"calls"`
	Talk     time.Duration `json:"talk"`
	Wrap     time.Duration `json:"wrap_up"`
	Ready    time.Duration `json:"ready"`
	Reserved time.Duration `json:"reserved"`
	Paused   time.Duration `json:"paused"`
}

func (d *DayStats) add(o DayStats) {
	d.Calls += o.Calls
	d.Talk += o.Talk
	d.Wrap += o.Wrap
	d.Ready += o.Ready
	d.Reserved += o.Reserved
	d.Paused += o.Paused
}

func (d *DayStats) addState(s State, t time.Duration) {
	switch s {
	case Talking:
		d.Talk += t
	case WrapUp:
		d.Wrap += t
	case Ready:
		d.Ready += t
	case Reserved:
		d.Reserved += t
	case Paused:
		d.Paused += t
	}
}

var dayFields = []string{":calls", ":talking_ms", ":wrap_up_ms", ":ready_ms", ":reserved_ms", ":paused_ms"}

func dayCmd(ctx context.Context, pipe redis.Pipeliner, key, agent string) *redis.SliceCmd {
	f := make([]string, len(dayFields))
	for i, s := range dayFields {
		f[i] = agent + s
	}
	return pipe.HMGet(ctx, key, f...)
}

func parseDay(v []any) DayStats {
	d := func(i int) time.Duration { return time.Duration(num(v[i])) * time.Millisecond }
	return DayStats{Calls: num(v[0]), Talk: d(1), Wrap: d(2), Ready: d(3), Reserved: d(4), Paused: d(5)}
}

// Today reads an agent's figures of today (the pool's Zone) over the
// campaigns of its definition and the one it is logged in to, the current
// state's time so far included.
func (p *Pool) Today(ctx context.Context, id string) (DayStats, error) {
	a, err := p.Get(ctx, id)
	if err != nil {
		return DayStats{}, err
	}
	st, err := p.Status(ctx, id)
	if err != nil {
		return DayStats{}, err
	}
	return p.today(ctx, a, st)
}

func (p *Pool) today(ctx context.Context, a Agent, st Status) (DayStats, error) {
	now := p.now()
	day := p.day(now)
	cs := slices.Clone(a.Campaigns)
	if st.Campaign != "" && !slices.Contains(cs, st.Campaign) {
		cs = append(cs, st.Campaign)
	}
	var out DayStats
	if len(cs) > 0 {
		pipe := p.rdb.Pipeline()
		cmds := make([]*redis.SliceCmd, len(cs))
		for i, c := range cs {
			cmds[i] = dayCmd(ctx, pipe, ck(c).agentDay(day), a.ID)
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return DayStats{}, fmt.Errorf("agent %s: today's figures: %w", a.ID, err)
		}
		for _, c := range cmds {
			out.add(parseDay(c.Val()))
		}
	}
	// The current state's time so far, booked as it will be: to the day it
	// is left.
	out.addState(st.State, st.InState(now))
	return out, nil
}
