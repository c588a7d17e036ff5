package registrar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Binding is one registered contact of an agent's phone.
type Binding struct {
	AgentID string
	// User is the SIP user that authenticated the REGISTER.
	User string
	// Contact is the Contact URI as the phone sent it: the Request-URI of
	// a request to the phone.
	Contact string
	// ContactParams are the Contact header parameters other than expires
	// (e.g. `;+sip.instance="<urn:uuid:…>"`), echoed in 200 responses.
	ContactParams string
	// Received is the address the REGISTER came from (ip:port). Behind a
	// NAT it differs from the Contact's host, and requests to the phone
	// must be sent there (RFC 3581 symmetric response routing; what
	// Kamailio's nathelper calls fix_nated_register).
	Received string
	// NAT says the Contact's host and port are not Received: the phone
	// is behind a NAT (or a proxy), and only Received reaches it.
	NAT bool
	// Transport is the transport it came over, e.g. "UDP".
	Transport string
	// Path are the Path header values (RFC 3327) a proxy in front of the
	// registrar added: requests to the phone are routed through them.
	Path []string
	// UserAgent is the phone's User-Agent header.
	UserAgent string
	// Node is the node that took the REGISTER.
	Node string
	// CallID and CSeq are the REGISTER's (RFC 3261 §10.3 step 7 orders
	// refreshes by them).
	CallID string
	CSeq   uint32
	// Expires is when the binding lapses unless refreshed.
	Expires time.Time
	// Updated is when the last REGISTER for it was accepted.
	Updated time.Time
}

// record is a Binding as stored in Redis (JSON); the Lua scripts read
// call_id, cseq and expires_ms.
type record struct {
	AgentID       string   `json:"agent_id"`
	User          string   `json:"user"`
	Contact       string   `json:"contact"`
	ContactParams string   `json:"contact_params,omitempty"`
	Received      string   `json:"received"`
	NAT           bool     `json:"nat,omitempty"`
	Transport     string   `json:"transport"`
	Path          []string `json:"path,omitempty"`
	UserAgent     string   `json:"user_agent,omitempty"`
	Node          string   `json:"node"`
	CallID        string   `json:"call_id"`
	CSeq          uint32   `json:"cseq"`
	ExpiresMS     int64    `json:"expires_ms"`
	UpdatedMS     int64    `json:"updated_ms"`
}

func (b Binding) record() record {
	return record{AgentID: b.AgentID, User: b.User, Contact: b.Contact, ContactParams: b.ContactParams,
		Received: b.Received, NAT: b.NAT, Transport: b.Transport, Path: b.Path, UserAgent: b.UserAgent, Node: b.Node,
		CallID: b.CallID, CSeq: b.CSeq, ExpiresMS: b.Expires.UnixMilli(), UpdatedMS: b.Updated.UnixMilli()}
}

func (r record) binding() Binding {
	return Binding{AgentID: r.AgentID, User: r.User, Contact: r.Contact, ContactParams: r.ContactParams,
		Received: r.Received, NAT: r.NAT, Transport: r.Transport, Path: r.Path, UserAgent: r.UserAgent, Node: r.Node,
		CallID: r.CallID, CSeq: r.CSeq, Expires: time.UnixMilli(r.ExpiresMS), Updated: time.UnixMilli(r.UpdatedMS)}
}

func decodeBinding(s string) (Binding, error) {
	var r record
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return Binding{}, fmt.Errorf("stored binding %.80q: %w", s, err)
	}
	return r.binding(), nil
}

// Every binding key shares the hash tag {registrar}, so a script that
// updates an agent's bindings and the expiry index runs in one slot (Redis
// Cluster). Registrations are few (one a phone every few minutes), so one
// slot carries them easily.
const expiryKey = "marcador:{registrar}:expiry"

// bindingKey is a hash of an agent's bindings: contact key → JSON record.
func bindingKey(agentID string) string { return "marcador:{registrar}:binding:" + agentID }

// expiryMember names a binding in the expiry index: the agent id, length
// prefixed (an id may hold any character), then the contact key.
func expiryMember(agentID, ckey string) string {
	return strconv.Itoa(len(agentID)) + ":" + agentID + ckey
}

func splitExpiryMember(m string) (agentID, ckey string, ok bool) {
	n, rest, found := strings.Cut(m, ":")
	l, err := strconv.Atoi(n)
	if !found || err != nil || l < 0 || l > len(rest) {
		return "", "", false
	}
	return rest[:l], rest[l:], true
}

// registerScript applies one REGISTER to an agent's bindings atomically
// (RFC 3261 §10.3 steps 6-8). Bindings already lapsed are dropped first. A
// binding with the request's Call-ID and a CSeq not below the request's
// aborts the whole request ({'cseq'}, step 7), before anything changes. A
// wildcard removes every binding; otherwise each contact (key, expires_ms,
// JSON) is removed (expires_ms 0) or written. Beyond ARGV[5] bindings, the
// ones this request did not name go, soonest to lapse first. The hash lives
// until its last binding lapses, plus a grace for the sweeper to log it.
//
// Returns {'ok', kind1, json1, kind2, json2, ...} with kind expired, removed,
// replaced, added, refreshed, then current for every binding left.
//
// KEYS: bindings expiry. ARGV: now_ms agent_prefix call_id cseq max wildcard
// grace_ms [ckey expires_ms json]...
var registerScript = redis.NewScript(`
local now, prefix, callid, cseq = tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4])
local maxc, star, grace = tonumber(ARGV[5]), ARGV[6] == '1', tonumber(ARGV[7])
local cur, gone = {}, {}
local raw = redis.call('HGETALL', KEYS[1])
for i = 1, #raw, 2 do
  local b = cjson.decode(raw[i+1])
  if tonumber(b.expires_ms) <= now then
    table.insert(gone, {ck = raw[i], js = raw[i+1]})
  else
    cur[raw[i]] = {js = raw[i+1], exp = tonumber(b.expires_ms), callid = b.call_id, cseq = tonumber(b.cseq)}
  end
end
local function outOfOrder(ck)
  local c = cur[ck]
  return c ~= nil and c.callid == callid and cseq <= c.cseq
end
if star then
  for ck in pairs(cur) do if outOfOrder(ck) then return {'cseq'} end end
else
  for i = 8, #ARGV, 3 do if outOfOrder(ARGV[i]) then return {'cseq'} end end
end
local out = {'ok'}
local function drop(ck, kind, js)
  redis.call('HDEL', KEYS[1], ck)
  redis.call('ZREM', KEYS[2], prefix .. ck)
  table.insert(out, kind)
  table.insert(out, js)
end
for _, g in ipairs(gone) do drop(g.ck, 'expired', g.js) end
local named = {}
if star then
  for ck, c in pairs(cur) do drop(ck, 'removed', c.js) end
  cur = {}
else
  for i = 8, #ARGV, 3 do
    local ck, exp, js = ARGV[i], tonumber(ARGV[i+1]), ARGV[i+2]
    local c = cur[ck]
    if exp == 0 then
      if c then drop(ck, 'removed', c.js); cur[ck] = nil end
    else
      redis.call('HSET', KEYS[1], ck, js)
      redis.call('ZADD', KEYS[2], exp, prefix .. ck)
      table.insert(out, c and 'refreshed' or 'added')
      table.insert(out, js)
      cur[ck] = {js = js, exp = exp}
      named[ck] = true
    end
  end
end
local list = {}
for ck, c in pairs(cur) do table.insert(list, {ck = ck, c = c}) end
if #list > maxc then
  table.sort(list, function(a, b)
    local na, nb = named[a.ck] == true, named[b.ck] == true
    if na ~= nb then return nb end
    return a.c.exp < b.c.exp
  end)
  while #list > maxc do
    local e = table.remove(list, 1)
    drop(e.ck, 'replaced', e.c.js)
  end
end
local last = 0
for _, e in ipairs(list) do
  if e.c.exp > last then last = e.c.exp end
  table.insert(out, 'current')
  table.insert(out, e.c.js)
end
if last > 0 then redis.call('PEXPIRE', KEYS[1], last - now + grace) end
return out
`)

// expireScript removes the named bindings of one agent that have lapsed by
// ARGV[1] and returns their JSON; a binding refreshed meanwhile keeps its
// place in the expiry index at its new expiry.
//
// KEYS: bindings expiry. ARGV: now_ms agent_prefix ckey...
var expireScript = redis.NewScript(`
local now, prefix = tonumber(ARGV[1]), ARGV[2]
local out = {}
for i = 3, #ARGV do
  local ck = ARGV[i]
  local js = redis.call('HGET', KEYS[1], ck)
  if not js then
    redis.call('ZREM', KEYS[2], prefix .. ck)
  else
    local exp = tonumber(cjson.decode(js).expires_ms)
    if exp <= now then
      redis.call('HDEL', KEYS[1], ck)
      redis.call('ZREM', KEYS[2], prefix .. ck)
      table.insert(out, js)
    else
      redis.call('ZADD', KEYS[2], exp, prefix .. ck)
    end
  end
end
return out
`)

// bindingGrace keeps an agent's binding hash this long after its last
// binding lapsed, so a sweeper finds and logs it; if no node sweeps (all
// down), Redis drops it then.
const bindingGrace = time.Hour

// Lookup returns an agent's current bindings, the most recently refreshed
// first; none when the agent's phone is not registered. Any node finds any
// agent's bindings.
func (r *Registrar) Lookup(ctx context.Context, agentID string) ([]Binding, error) {
	all, err := r.rdb.HGetAll(ctx, bindingKey(agentID)).Result()
	if err != nil {
		return nil, fmt.Errorf("bindings of agent %s: %w", agentID, err)
	}
	now := r.opt.Now()
	var out []Binding
	for _, js := range all {
		b, err := decodeBinding(js)
		if err != nil {
			return nil, fmt.Errorf("bindings of agent %s: %w", agentID, err)
		}
		if b.Expires.After(now) {
			out = append(out, b)
		}
	}
	sortBindings(out)
	return out, nil
}

func sortBindings(bs []Binding) {
	sort.Slice(bs, func(i, j int) bool {
		if !bs[i].Updated.Equal(bs[j].Updated) {
			return bs[i].Updated.After(bs[j].Updated)
		}
		return bs[i].Contact < bs[j].Contact
	})
}

// sweepBatch is how many lapsed bindings one round of Sweep reads.
const sweepBatch = 200

// Sweep removes the bindings that have lapsed and logs each once (whichever
// node's sweep removes it logs it). It returns how many it removed. Lookup
// already ignores lapsed bindings; Sweep is what tells the log.
func (r *Registrar) Sweep(ctx context.Context) (int, error) {
	removed := 0
	for {
		now := r.opt.Now()
		members, err := r.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: expiryKey, ByScore: true,
			Start: "-inf", Stop: strconv.FormatInt(now.UnixMilli(), 10), Count: sweepBatch}).Result()
		if err != nil {
			return removed, fmt.Errorf("sweep bindings: %w", err)
		}
		byAgent := map[string][]string{}
		for _, m := range members {
			agent, ckey, ok := splitExpiryMember(m)
			if !ok {
				r.rdb.ZRem(ctx, expiryKey, m)
				continue
			}
			byAgent[agent] = append(byAgent[agent], ckey)
		}
		for agent, ckeys := range byAgent {
			args := append([]any{now.UnixMilli(), expiryMember(agent, "")}, toAny(ckeys)...)
			gone, err := expireScript.Run(ctx, r.rdb, []string{bindingKey(agent), expiryKey}, args...).StringSlice()
			if err != nil && !errors.Is(err, redis.Nil) {
				return removed, fmt.Errorf("sweep bindings of agent %s: %w", agent, err)
			}
			for _, js := range gone {
				removed++
				b, err := decodeBinding(js)
				if err != nil {
					r.log.Warn("sip registrar: expired binding unreadable", "agent", agent, "err", err)
					continue
				}
				r.logChange("expired", b, "")
			}
		}
		if len(members) < sweepBatch {
			return removed, nil
		}
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// DefaultSweepEvery is Options.SweepEvery when unset.
const DefaultSweepEvery = 5 * time.Second

// Run sweeps lapsed bindings and keeps the nonce secret the shared one,
// every Options.SweepEvery, until ctx ends. Every node runs it: each lapsed
// binding is removed and logged once.
func (r *Registrar) Run(ctx context.Context) error {
	t := time.NewTicker(r.opt.SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := r.syncSecret(ctx); err != nil && ctx.Err() == nil {
				r.backendLog.Warn(r.log, "sip registrar: nonce secret check failed", "err", err)
			}
			if _, err := r.Sweep(ctx); err != nil && ctx.Err() == nil {
				r.backendLog.Warn(r.log, "sip registrar: sweep failed", "err", err)
			}
		}
	}
}

// logChange writes the one line a registration change gets.
func (r *Registrar) logChange(what string, b Binding, reason string) {
	args := []any{"agent", b.AgentID, "user", b.User, "contact", b.Contact, "received", b.Received,
		"node", b.Node}
	switch what {
	case "registered":
		args = append(args, "expires", b.Expires.UTC(), "transport", b.Transport, "user_agent", b.UserAgent, "nat", b.NAT)
	case "unregistered":
		args = append(args, "reason", reason)
	}
	r.log.Info("sip registrar: "+what, args...)
}
