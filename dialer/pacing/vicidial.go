package pacing

import (
	"math"
	"time"
)

// VicidialMode is one of VICIdial's adaptive dial methods.
type VicidialMode uint8

const (
	// AdaptHardLimit pins the dial level to 1.0 while today's drop rate is
	// over the limit.
	AdaptHardLimit VicidialMode = iota
	// AdaptAverage halves the dial level at each recalculation while today's
	// drop rate is over the limit.
	AdaptAverage
	// AdaptTapered lets the dial level run over the limit early in the day
	// and tapers it linearly over the last ten (HHMM) hours before the
	// latest server time, then pins it to 1.0.
	AdaptTapered
)

var vicidialModeNames = [...]string{"ADAPT_HARD_LIMIT", "ADAPT_AVERAGE", "ADAPT_TAPERED"}

func (m VicidialMode) String() string {
	if int(m) < len(vicidialModeNames) {
		return vicidialModeNames[m]
	}
	return "unknown"
}

// VicidialConfig holds VICIdial's campaign settings for adaptive pacing, with
// its defaults for the zero values noted.
type VicidialConfig struct {
	Mode VicidialMode
	// Intensity is adaptive_intensity, -40..+40 (percent): how much faster
	// the level rises (positive) or falls (negative). Default 0.
	Intensity float64
	// DiffTarget is dl_diff_target: ready agents the campaign aims to keep
	// (negative: calls waiting). Default 0.
	DiffTarget float64
	// MaxLevel is adaptive_maximum_level. Default 3.0.
	MaxLevel float64
	// DroppedPercentage is adaptive_dropped_percentage (percent). Default:
	// Settings.TargetAbandon of the tick, as a percentage (3 when unset).
	DroppedPercentage float64
	// LatestServerTime is adaptive_latest_server_time as HHMM. Default 2100.
	LatestServerTime int
	// DialLevelThreshold is the number of logged-in agents below which the
	// level is 1.0 (dial_level_threshold). Default 0: off.
	DialLevelThreshold int
	// AvailableOnlyTally counts only ready agents when placing calls
	// (available_only_ratio_tally). Default off: ready and in-call agents.
	AvailableOnlyTally bool
	// Location is the server's time zone for "today" and the taper. Default UTC.
	Location *time.Location
}

// Vicidial re-implements VICIdial's adaptive predictive pacing
// (ADAPT_HARD_LIMIT, ADAPT_AVERAGE, ADAPT_TAPERED) from its published
// behaviour, as the baseline the predictive pacer is measured against. Each
// rule below names where it comes from: AST_VDadapt.pl (the dial level,
// recalculated by a separate process), AST_VDauto_dial.pl (the calls placed)
// and docs/PREDICTIVE.txt / the campaign help text (settings and defaults).
// Nothing of VICIdial's (GPL) code is used; the behaviour is written anew
// from the project's reference note (reference/vicidial-adapt.md beside the
// design) and its published behaviour.
type Vicidial struct {
	cfg VicidialConfig
	dl  float64 // the dial level: lines per counted agent

	// 1 s samples of ready agents, waiting calls and logged-in agents; the
	// last 15 are averaged (AST_VDadapt.pl).
	samples    [15][3]float64
	nSamples   int
	lastSample time.Time
	lastRecalc time.Time
	lastPlace  time.Time
	lastStats  time.Time

	// Drop statistics: since midnight, and per second over the last minute.
	day                        int // yyyymmdd of the counters
	callsToday, answersToday   int
	dropsToday                 int
	minute                     [60]vicidialSecond
	statCalls, statCallsMinute int     // as of the last 60 s recomputation
	statPct, statPctMinute     float64 // drops ÷ human answers, percent
	targetPct                  float64 // Settings.TargetAbandon of the last tick, percent
	cps                        cpsBucket
}

type vicidialSecond struct {
	sec                   int64
	calls, answers, drops int
}

// NewVicidial returns a VICIdial ADAPT pacer; the level starts at 1.0 as a
// campaign switched to an adaptive method does.
func NewVicidial(cfg VicidialConfig) *Vicidial {
	if cfg.MaxLevel <= 0 {
		cfg.MaxLevel = 3.0
	}
	if cfg.LatestServerTime <= 0 {
		cfg.LatestServerTime = 2100
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	cfg.Intensity = math.Max(-40, math.Min(40, cfg.Intensity))
	return &Vicidial{cfg: cfg, dl: 1.0}
}

func (*Vicidial) Name() string { return "vicidial" }

// Unplaced gives back n calls of its decisions never placed (Refunder).
func (v *Vicidial) Unplaced(n int) { v.cps.refund(n) }

// DialLevel is the current dial level.
func (v *Vicidial) DialLevel() float64 { return v.dl }

func (v *Vicidial) second(t time.Time) *vicidialSecond {
	sec := t.Unix()
	b := &v.minute[sec%60]
	if b.sec != sec {
		*b = vicidialSecond{sec: sec}
	}
	return b
}

// rollDay resets the since-midnight counters on a new day.
func (v *Vicidial) rollDay(t time.Time) {
	l := t.In(v.cfg.Location)
	d := l.Year()*10000 + int(l.Month())*100 + l.Day()
	if d != v.day {
		v.day, v.callsToday, v.answersToday, v.dropsToday = d, 0, 0, 0
	}
}

// Observe counts human answers and drops for the drop rate (drops ÷
// human-answered calls, per campaign).
func (v *Vicidial) Observe(ev Event) {
	switch ev.Kind {
	case AnsweredLive:
		v.rollDay(ev.At)
		v.answersToday++
		v.second(ev.At).answers++
	case Abandoned:
		v.rollDay(ev.At)
		v.dropsToday++
		v.second(ev.At).drops++
	}
}

func (v *Vicidial) Decide(s *Snapshot) Decision {
	now := s.Now
	v.rollDay(now)
	v.targetPct = 100 * s.Settings.TargetAbandon
	c := takeCensus(s)
	logged := len(s.Agents)

	// Every second: a sample of ready agents (READY or DONE), calls waiting
	// for an agent, and logged-in agents (AST_VDadapt.pl).
	if now.Sub(v.lastSample) >= time.Second {
		v.samples[v.nSamples%len(v.samples)] = [3]float64{float64(c.ready), float64(c.waiting), float64(logged)}
		v.nSamples++
		v.lastSample = now
	}
	// Every 60 s: drop statistics (AST_VDadapt.pl recomputes today's, the
	// last hour's, 30, 5 and 1 minutes'; the brakes use today's and the
	// last minute's).
	if now.Sub(v.lastStats) >= time.Minute {
		v.lastStats = now
		v.statCalls, v.statPct = v.callsToday, pct(v.dropsToday, v.answersToday)
		var calls, ans, drops int
		for _, b := range v.minute {
			if now.Unix()-b.sec < 60 {
				calls, ans, drops = calls+b.calls, ans+b.answers, drops+b.drops
			}
		}
		v.statCallsMinute, v.statPctMinute = calls, pct(drops, ans)
	}
	// Every 15 s, while agents are logged in: the new dial level (the first
	// one 15 s after pacing starts, from 15 samples).
	if v.lastRecalc.IsZero() {
		v.lastRecalc = now
	}
	if now.Sub(v.lastRecalc) >= 15*time.Second && v.nSamples > 0 {
		v.lastRecalc = now
		v.recalc(now)
	}
	if c.available() == 0 {
		return Decision{Reason: ReasonNoAgents}
	}
	// Every 2.5 s: place calls up to the goal (AST_VDauto_dial.pl).
	if now.Sub(v.lastPlace) < 2500*time.Millisecond {
		return Decision{Reason: ReasonWait, DialLevel: dialLevel(c, 0)}
	}
	v.lastPlace = now
	// Agents counted: every non-paused agent except those whose call has
	// ended (wrap-up: VICIdial's DEAD count), plus dl_diff_target; with
	// available_only_ratio_tally only READY/DONE agents, and the calls they
	// are on are added to the goal instead.
	agents := c.ready + c.onCall
	if v.cfg.AvailableOnlyTally {
		agents = c.ready
	}
	counted := math.Max(float64(agents)+v.cfg.DiffTarget, 0)
	goal := int(math.Round(v.dl * counted))
	if v.cfg.AvailableOnlyTally {
		goal += c.onCall
	}
	// Existing calls: sent, ringing, answered and waiting, and connected to
	// an agent (SENT, RINGING, LIVE, XFER): at level 1.0 this is one line
	// per agent, busy or not.
	want := goal - c.lines() - c.onCall
	n, why := limit(want, ReasonDial, c, s.Settings.MaxLinesPerAgent, s, &v.cps)
	if want <= 0 {
		why = ReasonEnough
	}
	v.callsToday += n
	v.second(now).calls += n
	return Decision{Dial: n, Reason: why, DialLevel: dialLevel(c, n), PredictedFree: float64(c.ready)}
}

func pct(drops, answers int) float64 {
	if answers == 0 {
		return 0
	}
	return 100 * float64(drops) / float64(answers)
}

// recalc is AST_VDadapt.pl's dial-level update.
func (v *Vicidial) recalc(now time.Time) {
	n := min(v.nSamples, len(v.samples))
	var ready, waiting, total float64
	for _, s := range v.samples[:n] {
		ready, waiting, total = ready+s[0], waiting+s[1], total+s[2]
	}
	ready, waiting, total = ready/float64(n), waiting/float64(n), total/float64(n)
	if total <= 0 {
		return // only while agents are logged in
	}
	diff := ready - waiting + v.cfg.DiffTarget
	p := 100 * diff / total
	in := v.cfg.Intensity / 100
	adj := p * (in + 1)
	if p < 0 {
		adj = p * math.Abs(in-1)
	}
	dl := v.dl * (1 + adj/100)
	dl = math.Min(dl, v.cfg.MaxLevel)
	// Panic brake: over half the last minute's human answers dropped.
	if v.statCallsMinute > 20 && v.statPctMinute > 50 {
		dl /= 2
	}
	// The daily drop limit, by method.
	limit := v.cfg.DroppedPercentage
	if limit <= 0 {
		limit = v.targetPct
	}
	if limit <= 0 {
		limit = 3
	}
	if v.statCalls > 50 && v.statPct > limit {
		switch v.cfg.Mode {
		case AdaptHardLimit:
			dl = 1.0
		case AdaptAverage:
			dl /= 2
		case AdaptTapered:
			l := now.In(v.cfg.Location)
			hhmm := l.Hour()*100 + l.Minute()
			if hhmm >= v.cfg.LatestServerTime {
				dl = 1.0
			} else {
				dl *= math.Min(1, float64(v.cfg.LatestServerTime-hhmm)/1000)
			}
		}
	}
	if v.cfg.DialLevelThreshold > 0 && total < float64(v.cfg.DialLevelThreshold) {
		dl = 1.0
	}
	v.dl = math.Max(dl, 1.0) // an adaptive method never dials below 1.0
}
