package kpi

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Source is where a report reads its figures.
type Source int

const (
	// Rollup reads the roll-up tables, refreshing the stale buckets first.
	Rollup Source = iota
	// Raw computes the same rows from the raw tables inside each query
	// (the baseline the roll-ups are measured against).
	Raw
)

func (s Source) String() string {
	if s == Raw {
		return "raw"
	}
	return "rollup"
}

// window is how far back the US abandon rate looks.
const window = 30 * 24 * time.Hour

// Family is a group of KPIs read by one query (per grouping).
type Family string

const (
	FamilyAttempts Family = "attempts"  // attempts, contacts, RPC, live answers, abandons, connects, AHT, texts
	FamilyDebtors  Family = "debtors"   // debtors attempted, reached, right party
	FamilyAbandon  Family = "abandon30" // the 30-day abandon rate
	FamilyCosts    Family = "costs"     // cost, per contact, per promise
	FamilyPromises Family = "promises"  // promises, promised amount, kept, broken, pending, kept amount
	FamilyRecovery Family = "recovery"  // payments recovered after a touch
	FamilyAgents   Family = "agents"    // agent-hours, occupancy, talk and connects per agent-hour
	FamilyReplies  Family = "replies"   // replies and opt-outs to texts
	FamilyBestTime Family = "best_time" // contact and right-party rates by local hour and weekday
)

// Families lists the report's families in the order they are read.
func Families() []Family {
	return []Family{FamilyAttempts, FamilyDebtors, FamilyAbandon, FamilyCosts, FamilyPromises, FamilyRecovery, FamilyAgents, FamilyReplies}
}

// query is one family's read for one grouping: rows are added to rows by key.
type reader struct {
	k     *KPI
	f     Filter
	src   Source
	now   time.Time
	depth int // promise allocation steps, for the raw source
}

// Report computes the KPIs of f, one row per by and the total. f must
// have been resolved (Filter.Resolve or ParseQuery).
func (k *KPI) Report(ctx context.Context, f Filter, by By, src Source) (*Report, error) {
	rd, err := k.reader(ctx, f, by, src)
	if err != nil {
		return nil, err
	}
	rows, total := map[string]*Row{}, map[string]*Row{}
	for _, fam := range Families() {
		if by != ByNone {
			if err := rd.read(ctx, fam, by, rows); err != nil {
				return nil, err
			}
		}
		if err := rd.read(ctx, fam, ByNone, total); err != nil {
			return nil, err
		}
	}
	rd.known(by, rows)
	rd.known(ByNone, total)
	rep := &Report{From: f.From, To: f.To, TZ: f.TZ, By: by, AttributionDays: k.opt.AttributionDays, Source: src.String(),
		Rows: []Row{}}
	keys := make([]string, 0, len(rows))
	for key := range rows {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	for _, key := range keys {
		if by == ByAgent && key == "" {
			continue // by agent: the agents' rows; the total has the rest
		}
		r := rows[key]
		r.Key = key
		r.finish(k.opt.Costs)
		rep.Rows = append(rep.Rows, *r)
	}
	t := total[""]
	if t == nil {
		t = &Row{}
	}
	t.Key = "total"
	t.finish(k.opt.Costs)
	rep.Total = *t
	return rep, nil
}

// Applies says whether a family has figures for f grouped by by (the
// 30-day abandon rate is per campaign; costs are not split by agent;
// agents' time and replies have fewer dimensions than attempts).
func (k *KPI) Applies(f Filter, by By, fam Family) bool {
	rd := &reader{k: k, f: f}
	switch fam {
	case FamilyAbandon:
		return by == ByNone || by == ByCampaign
	case FamilyCosts:
		return rd.costsApply(by)
	case FamilyAgents:
		return rd.agentsApply(by)
	case FamilyReplies:
		return rd.repliesApply(by)
	case FamilyBestTime:
		return len(f.Agents) == 0
	}
	return true
}

// Measure runs one family's query for f and by, for a benchmark, and says
// how long it took.
func (k *KPI) Measure(ctx context.Context, f Filter, by By, src Source, fam Family) (time.Duration, error) {
	rd, err := k.reader(ctx, f, by, src)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if fam == FamilyBestTime {
		_, err = rd.bestTime(ctx, "")
	} else {
		err = rd.read(ctx, fam, by, map[string]*Row{})
	}
	return time.Since(start), err
}

// reader refreshes what f reads (when it reads roll-ups) and returns the
// reader of f grouped by by.
func (k *KPI) reader(ctx context.Context, f Filter, by By, src Source) (*reader, error) {
	if f.loc == nil {
		return nil, fmt.Errorf("kpi: the filter was not resolved")
	}
	rd := &reader{k: k, f: f, src: src, now: k.opt.Now()}
	if src == Rollup {
		from, to := f.Range()
		s := RefreshScope{Campaigns: f.Campaigns, From: from.Add(-window - time.Hour), To: to}
		if rd.byDayCounts(by) {
			s.Zones = []string{f.TZ}
		}
		if _, err := k.Refresh(ctx, s); err != nil {
			return nil, err
		}
	} else {
		d, err := k.depth(ctx, rawPromises(k.db))
		if err != nil {
			return nil, err
		}
		rd.depth = d
	}
	return rd, nil
}

func (rd *reader) read(ctx context.Context, fam Family, by By, rows map[string]*Row) error {
	switch fam {
	case FamilyAttempts:
		return rd.attempts(ctx, by, rows)
	case FamilyDebtors:
		return rd.debtors(ctx, by, rows)
	case FamilyAbandon:
		return rd.abandon30(ctx, by, rows)
	case FamilyCosts:
		return rd.costs(ctx, by, rows)
	case FamilyPromises:
		return rd.promises(ctx, by, rows)
	case FamilyRecovery:
		return rd.recovery(ctx, by, rows)
	case FamilyAgents:
		return rd.agents(ctx, by, rows)
	case FamilyReplies:
		return rd.replies(ctx, by, rows)
	}
	return fmt.Errorf("kpi: unknown family %q", fam)
}

func row(rows map[string]*Row, key string) *Row {
	r := rows[key]
	if r == nil {
		r = &Row{}
		rows[key] = r
	}
	return r
}
