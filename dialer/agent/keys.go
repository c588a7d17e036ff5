package agent

import "time"

// The directory: every agent definition and the indexes over them share the
// hash tag {agents}, so a definition and its SIP user's index entry change in
// one script (the SIP user stays unique without a lock).
const (
	dirTag       = "marcador:{agents}:"
	sipUsersKey  = dirTag + "sip_users" // hash SIP user → agent id
	idsKey       = dirTag + "ids"       // set of agent ids
	whereKey     = dirTag + "where"     // hash agent id → "campaign|gen|node" while logged in
	gensKey      = dirTag + "gen"       // hash agent id → last login generation
	campaignsKey = dirTag + "campaigns" // set of campaigns agents ever logged in to
)

func defKey(id string) string { return dirTag + "agent:" + id }

// ckeys are the agent keys of one campaign. They carry the campaign's hash tag
// {campaign-id} (the one queue's keys carry), so every state script runs in
// the campaign's slot, beside its queue.
type ckeys struct{ c string }

func ck(campaign string) ckeys          { return ckeys{campaign} }
func (k ckeys) p(s string) string       { return "marcador:{" + k.c + "}:" + s }
func (k ckeys) state() string           { return k.p("agent_state") }        // hash agent → state entry (JSON)
func (k ckeys) idle(node string) string { return k.p("agent_idle:" + node) } // zset agent → idle since (ms)
func (k ckeys) held(node string) string { return k.p("agent_held:" + node) } // set of agents the node holds
func (k ckeys) lease() string           { return k.p("agent_lease") }        // zset agent → lease expiry (ms)
func (k ckeys) events() string          { return k.p("agent_events") }       // stream of transitions
func (k ckeys) agentDay(day string) string {
	return k.p("agent_day:" + day) // hash "<agent>:calls", "<agent>:<state>_ms"
}
func (k ckeys) callbacks() string {
	return k.p("callbacks") // hash account → "agent|until ms": personal call backs (callbacks.go)
}
func (k ckeys) answers(day string) string { return k.p("answers:" + day) } // hash live, abandoned, machine
func (k ckeys) revised(day string) string {
	return k.p("answers_revised:" + day) // set of calls moved from live to machine (Revise)
}
func (k ckeys) answersHour(hour string) string {
	return k.p("answers5m:" + hour) // hash "live:<MM>", "abandoned:<MM>" per five minutes of a UTC hour
}

// hourFmt names a UTC hour in keys; recentRetention is how long an hour's
// five-minute counts are kept (the 24-hour rate needs 25 hours).
const (
	hourFmt         = "2006010215"
	recentRetention = 26 * time.Hour
)

// dayFmt names a calendar day in keys.
const dayFmt = "20060102"

// retention is how long a day's counters are kept after their last write:
// enough for the 30-day rolling abandon rate in any time zone.
const retention = 35 * 24 * time.Hour

// scriptKeys are the keys every state script gets, in this order.
func (k ckeys) scriptKeys(node, day string) []string {
	return []string{k.state(), k.idle(node), k.lease(), k.events(), k.agentDay(day), k.held(node), k.callbacks()}
}
