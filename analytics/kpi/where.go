package kpi

import (
	"strings"
	"time"

	"github.com/marcador/marcador/analytics"
)

// The WHERE clauses and group keys every family's query shares.

// conds builds a WHERE clause.
type conds struct {
	parts []string
	args  []any
}

func (c *conds) add(cond string, args ...any) {
	c.parts = append(c.parts, cond)
	c.args = append(c.args, args...)
}

func (c *conds) in(col string, vals []string) {
	if len(vals) == 0 {
		return
	}
	c.parts = append(c.parts, col+" IN ("+marks(len(vals))+")")
	for _, v := range vals {
		c.args = append(c.args, v)
	}
}

func (c *conds) String() string {
	if len(c.parts) == 0 {
		return "1"
	}
	return strings.Join(c.parts, " AND ")
}

func channels(cs []analytics.Channel) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}

// key is the grouping expression over a family's columns: tcol its time
// column, ch its channel as voice, sms or whatsapp.
func (rd *reader) key(by By, tcol, ch string) string {
	tz := "'" + rd.f.TZ + "'"
	switch by {
	case ByDay:
		return "toString(toDate(" + tcol + ", " + tz + "))"
	case ByHour:
		return "formatDateTime(" + tcol + ", '%H', " + tz + ")"
	case ByCampaign:
		return "campaign_id"
	case ByAgent:
		return "agent_id"
	case BySegment:
		return "segment"
	case ByChannel:
		return ch
	}
	return "''"
}

// dims adds the filter's campaign, country, segment, channel and agent
// conditions; ch is the family's channel expression.
func (rd *reader) dims(c *conds, ch string) {
	c.in("campaign_id", rd.f.Campaigns)
	c.in("country", rd.f.Countries)
	c.in("segment", rd.f.Segments)
	c.in(ch, channels(rd.f.Channels))
	c.in("agent_id", rd.f.Agents)
}

// byAgents says whether attempts are read from the agents' roll-up: by
// agent, or for some agents.
func (rd *reader) byAgents(by By) bool { return by == ByAgent || len(rd.f.Agents) > 0 }

// attemptSource is kpi_attempts (or kpi_agent_attempts when agents asks),
// or its rows computed from the raw table, over [from, to) and the
// filter's dimensions.
func (rd *reader) attemptSource(from, to time.Time, agents bool) (string, *conds) {
	c := &conds{}
	if rd.src == Rollup && rd.f.wholeHours() {
		scope := &conds{}
		scope.in("campaign_id", rd.f.Campaigns)
		scope.add("bucket >= ? AND bucket < ?", unix(from), unix(to))
		v, args := rd.k.versions("campaign_id, hour", "campaign_id, toDateTime(bucket)", []string{srcAttempts}, scope)
		c.add(v, args...)
		c.add("hour >= toDateTime(?) AND hour < toDateTime(?)", unix(from), unix(to))
		if agents {
			c.in("agent_id", rd.f.Agents)
		}
		c.in("campaign_id", rd.f.Campaigns)
		c.in("country", rd.f.Countries)
		c.in("segment", rd.f.Segments)
		c.in("toString(channel)", channels(rd.f.Channels))
		if agents {
			return rd.k.db + ".kpi_agent_attempts", c
		}
		return rd.k.db + ".kpi_attempts", c
	}
	raw := &conds{}
	raw.add("started_at >= toDateTime(?) AND started_at < toDateTime(?)", unix(from), unix(to))
	rd.dims(raw, "toString(channel)")
	c.args = raw.args
	rows := attemptRows(rd.k.db, rd.bucket(), raw.String())
	if agents {
		return "(" + agentAttemptRollup(rows) + ")", c
	}
	return "(" + attemptRollup(rows) + ")", c
}

// bucket is the raw rows' time bucket: an hour, or a quarter of one when
// the zone's offset is not whole hours.
func (rd *reader) bucket() string {
	if rd.f.wholeHours() {
		return "toStartOfHour(started_at)"
	}
	return "toStartOfFifteenMinutes(started_at)"
}
