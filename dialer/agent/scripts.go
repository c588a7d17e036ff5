package agent

import "github.com/redis/go-redis/v9"

// luaCommon starts every state script. Each gets the same keys and first
// arguments (ckeys.scriptKeys and Pool.common), all in the campaign's slot:
//
// KEYS: 1 state (hash agent → entry JSON), 2 idle:<node> (zset by idle-since
// ms), 3 lease (zset by expiry ms), 4 events (stream), 5 agent_day:<day>
// (hash), 6 held:<node> (set), 7 callbacks (hash account → "agent|until ms").
// ARGV: 1 now_ms, 2 node, 3 campaign, 4 stream maxlen, 5 lease ms,
// 6 counter ttl s; the script's own arguments follow from ARGV[7].
//
// Time is always ARGV[1], the caller's injected clock, never Redis TIME: the
// simulator and the tests drive it, and it is the time the rest of the
// system (attempt rows, pacer) stamps events with. Stream ids are Redis's,
// used only as order and resume cursors.
//
// An entry: state, since (ms in the state), idle_since (ms, kept while
// reserved so a release keeps the agent's place), node, gen (login
// generation), reason (pause code or why logged out), leaving and
// leave_reason (asked for while in a call), call and call_at, login_at.
const luaCommon = `
local now, node, campaign = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local maxlen, lease_ms, day_ttl = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])

local function load(a)
  local v = redis.call('HGET', KEYS[1], a)
  if v then return cjson.decode(v) end
  return nil
end

local function save(a, e) redis.call('HSET', KEYS[1], a, cjson.encode(e)) end

-- exits are the intervals agents left in this call (JSON each: agent,
-- state, since, reason, node; they end now), for the agent_states rows;
-- reply returns a script's answer with them after it.
local exits = {}
local function reply(r)
  for _, x in ipairs(exits) do r[#r+1] = x end
  return r
end

-- tally adds the time spent in the state being left to today's figures.
local function tally(a, e)
  if e.state == 'logged_out' or not e.since then return end
  local d = now - e.since
  if d > 0 then
    redis.call('HINCRBY', KEYS[5], a .. ':' .. e.state .. '_ms', d)
    redis.call('EXPIRE', KEYS[5], day_ttl)
  end
end

local function emit(a, kind, from, e, why, call)
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', maxlen, '*',
    'campaign', campaign, 'agent', a, 'event', kind, 'from', from, 'to', e.state,
    'at', ARGV[1], 'node', e.node or '', 'reason', why or '', 'call', call or '',
    'leaving', e.leaving or '')
end

-- enter moves the agent to state 'to' (reason why for paused and
-- logged_out), keeping the idle queue, the lease and the held set in step,
-- and publishes the change.
local function enter(a, e, to, kind, why, call)
  local from = e.state
  tally(a, e)
  if from ~= 'logged_out' and e.since and now > e.since then
    exits[#exits+1] = cjson.encode({agent = a, state = from, since = e.since, reason = e.reason or '', node = e.node or ''})
  end
  if from == 'ready' then redis.call('ZREM', KEYS[2], a) end
  e.state, e.since = to, now
  if to == 'paused' or to == 'logged_out' then e.reason = why else e.reason = nil end
  if to == 'ready' then redis.call('ZADD', KEYS[2], e.idle_since, a) end
  if to == 'logged_out' then
    redis.call('ZREM', KEYS[2], a)
    redis.call('ZREM', KEYS[3], a)
    redis.call('SREM', KEYS[6], a)
    e.idle_since, e.call, e.call_at, e.leaving, e.leave_reason = nil, nil, nil, nil, nil
  end
  save(a, e)
  emit(a, kind, from, e, why, call)
end

-- settle ends the agent's call: back to ready (idle since idle_since), or
-- to what the agent asked for meanwhile.
local function settle(a, e, kind, idle_since)
  local l, lr, c = e.leaving, e.leave_reason, e.call
  e.leaving, e.leave_reason, e.call, e.call_at = nil, nil, nil, nil
  if l == 'logout' then
    enter(a, e, 'logged_out', kind, lr, c)
  elseif l == 'pause' then
    e.idle_since = nil
    enter(a, e, 'paused', kind, lr, c)
  else
    e.idle_since = idle_since
    enter(a, e, 'ready', kind, nil, c)
  end
end
`

// transitionScript runs one transition of one agent (or, for reserve, of
// the account's pinned agent or the campaign's longest-idle ready agent on
// the node).
//
// ARGV from 7: op, agent, call, reason, gen, flag (login: 'ready' or not;
// reserve: the account whose call it is, empty for none).
// Returns {'ok', entry, agent (reserve) or empty, '1' when reserve took the
// account's pinned agent or empty, exits...}, {'refused', entry (empty when
// none), detail}, {'stale', entry} (the entry is on another node than the
// caller's keys) or {'none'} (reserve: nobody ready).
var transitionScript = redis.NewScript(luaCommon + `
local op, a, call, why, gen, flag = ARGV[7], ARGV[8], ARGV[9], ARGV[10], tonumber(ARGV[11]) or 0, ARGV[12]

-- take reserves agent id for the call if it is ready and held by this
-- node; nil otherwise.
local function take(id)
  local x = load(id)
  if not x or x.state ~= 'ready' or x.node ~= node then return nil end
  x.call, x.call_at = call, now
  enter(id, x, 'reserved', 'reserve', nil, call)
  return x
end

if op == 'reserve' then
  -- A personal call back first: the account's pinned agent, if ready here.
  -- A lapsed (or unreadable) pin is dropped.
  if flag ~= '' then
    local v = redis.call('HGET', KEYS[7], flag)
    if v then
      local pa, untl = string.match(v, '^([^|]+)|(%d+)$')
      if not pa or tonumber(untl) <= now then
        redis.call('HDEL', KEYS[7], flag)
      else
        local x = take(pa)
        if x then return reply({'ok', cjson.encode(x), pa, '1'}) end
      end
    end
  end
  while true do
    local first = redis.call('ZRANGE', KEYS[2], 0, 0)
    if #first == 0 then return {'none'} end
    local id = first[1]
    local x = take(id)
    if x then return reply({'ok', cjson.encode(x), id, ''}) end
    redis.call('ZREM', KEYS[2], id) -- not ready here any more: drop the stale entry
  end
end

if op == 'reserve_agent' then
  -- One given agent (a preview dial), if it is ready on this node.
  local x = take(a)
  if not x then return {'none'} end
  return reply({'ok', cjson.encode(x), a, ''})
end

local e = load(a)
local function refuse(detail)
  local v = ''
  if e then v = cjson.encode(e) end
  return {'refused', v, detail or ''}
end
local function ok() return reply({'ok', cjson.encode(e), '', ''}) end

if op == 'login' then
  if e and e.state ~= 'logged_out' then return refuse('already logged in') end
  if e and (e.gen or 0) >= gen then return refuse('superseded by a concurrent login') end
  e = {state = 'logged_out', gen = gen, node = node, login_at = now}
  redis.call('SADD', KEYS[6], a)
  redis.call('ZADD', KEYS[3], now + lease_ms, a)
  if flag == 'ready' then
    e.idle_since = now
    enter(a, e, 'ready', 'login', nil, nil)
  else
    enter(a, e, 'paused', 'login', 'login', nil)
  end
  return ok()
end

if op == 'fence' then
  -- A login elsewhere takes over this campaign's stale location: refuse if
  -- the agent is in fact logged in here, else spend generation gen here so
  -- a login still on its way with it is refused.
  if e and e.state ~= 'logged_out' then return refuse('') end
  e = e or {state = 'logged_out', gen = 0}
  if (e.gen or 0) < gen then
    e.gen = gen
    save(a, e)
  end
  return ok()
end

if not e or e.state == 'logged_out' then return refuse('') end
if e.node ~= node then return {'stale', cjson.encode(e)} end
local s = e.state

if op == 'ready' then
  if s == 'paused' then
    e.idle_since = now
    enter(a, e, 'ready', 'ready', nil, nil)
  elseif s == 'wrap_up' then
    local c = e.call
    e.leaving, e.leave_reason, e.call, e.call_at, e.idle_since = nil, nil, nil, nil, now
    enter(a, e, 'ready', 'ready', nil, c)
  elseif (s == 'reserved' or s == 'talking') and e.leaving then
    e.leaving, e.leave_reason = nil, nil
    save(a, e)
    emit(a, 'ready', s, e, 'leave_cancelled', e.call)
  else
    return refuse('')
  end
  return ok()
end

if op == 'pause' then
  if s == 'ready' or s == 'paused' then
    e.idle_since = nil
    enter(a, e, 'paused', 'pause', why, nil)
  else
    e.leaving, e.leave_reason = 'pause', why
    save(a, e)
    emit(a, 'pause', s, e, why, e.call)
  end
  return ok()
end

if op == 'logout' then
  if s == 'ready' or s == 'paused' then
    enter(a, e, 'logged_out', 'logout', why, nil)
  else
    e.leaving, e.leave_reason = 'logout', why
    save(a, e)
    emit(a, 'logout', s, e, why, e.call)
  end
  return ok()
end

if op == 'disconnect' then
  local c, l = e.call, e.leaving
  e.leaving, e.leave_reason, e.call, e.call_at, e.idle_since = nil, nil, nil, nil, nil
  if l == 'logout' then
    enter(a, e, 'logged_out', 'disconnect', 'logout', c)
  else
    enter(a, e, 'paused', 'disconnect', why, c)
  end
  return ok()
end

-- The call operations name the call: a late one (a wrap-up timer of an
-- earlier call) must not move the agent out of a later one.
if e.call ~= call then
  return refuse('call ' .. call .. ' is not the agent\'s')
end
if op == 'release' then
  if s ~= 'reserved' then return refuse('') end
  settle(a, e, 'release', e.idle_since or now)
elseif op == 'connect' then
  if s ~= 'reserved' then return refuse('') end
  redis.call('HINCRBY', KEYS[5], a .. ':calls', 1)
  redis.call('EXPIRE', KEYS[5], day_ttl)
  enter(a, e, 'talking', 'connect', nil, call)
elseif op == 'hangup' then
  if s ~= 'talking' then return refuse('') end
  enter(a, e, 'wrap_up', 'hangup', nil, call)
elseif op == 'end_wrap' then
  if s ~= 'wrap_up' then return refuse('') end
  settle(a, e, 'end_wrap', now)
else
  return redis.error_reply('unknown op ' .. op)
end
return ok()
`)

// renewScript extends the lease of every agent the node holds in the
// campaign. ARGV from 7: none. Returns the agents renewed.
var renewScript = redis.NewScript(luaCommon + `
local out = {}
for _, a in ipairs(redis.call('SMEMBERS', KEYS[6])) do
  local e = load(a)
  if e and e.state ~= 'logged_out' and e.node == node then
    redis.call('ZADD', KEYS[3], now + lease_ms, a)
    out[#out+1] = a
  else
    redis.call('SREM', KEYS[6], a)
  end
end
return out
`)

// reapScript logs out agents the node holds: in mode 'expired' those listed
// whose lease has expired by now (node_lost), in mode 'evict' every agent
// the node holds (a node restarted without its agents' legs). Running it
// twice frees nobody twice.
//
// ARGV from 7: mode, reason, then agents (mode expired). Returns the number
// of exits, the exits, then agent, gen pairs of the agents logged out.
var reapScript = redis.NewScript(luaCommon + `
local mode, why = ARGV[7], ARGV[8]
local list = {}
if mode == 'evict' then
  list = redis.call('SMEMBERS', KEYS[6])
else
  for i = 9, #ARGV do list[#list+1] = ARGV[i] end
end
local out = {}
for _, a in ipairs(list) do
  local e = load(a)
  if e and e.state ~= 'logged_out' and e.node == node then
    local exp = redis.call('ZSCORE', KEYS[3], a)
    if mode == 'evict' or not exp or tonumber(exp) <= now then
      local c = e.call
      enter(a, e, 'logged_out', mode == 'evict' and 'evict' or 'reap', why, c)
      out[#out+1] = a
      out[#out+1] = tostring(e.gen or 0)
    end
  elseif mode == 'evict' then
    redis.call('SREM', KEYS[6], a)
  elseif not e or e.state == 'logged_out' then
    -- a lease left behind by nobody logged in: drop it (a fresh login's
    -- lease ends after now and stays)
    local exp = redis.call('ZSCORE', KEYS[3], a)
    if exp and tonumber(exp) <= now then redis.call('ZREM', KEYS[3], a) end
  end
end
local r = {tostring(#exits)}
for _, x in ipairs(exits) do r[#r+1] = x end
for _, x in ipairs(out) do r[#r+1] = x end
return r
`)

// snapshotScript reads a campaign's agents in one call: counts by state over
// every node, and for the node's logged-in agents their state, since (ms)
// and whether they leave after the call.
//
// KEYS: state. ARGV: node. Returns {logged_in, ready, reserved, talking,
// wrap_up, paused, leaving, {state, since, leaving(0/1), ...}}.
var snapshotScript = redis.NewScript(`
local c = {logged_in = 0, ready = 0, reserved = 0, talking = 0, wrap_up = 0, paused = 0, leaving = 0}
local list = {}
local vals = redis.call('HVALS', KEYS[1])
for i = 1, #vals do
  local e = cjson.decode(vals[i])
  if e.state ~= 'logged_out' then
    c.logged_in = c.logged_in + 1
    c[e.state] = (c[e.state] or 0) + 1
    local l = 0
    if e.leaving then l = 1; c.leaving = c.leaving + 1 end
    if ARGV[1] ~= '' and e.node == ARGV[1] then
      list[#list+1] = e.state
      list[#list+1] = e.since or 0
      list[#list+1] = l
    end
  end
end
return {c.logged_in, c.ready, c.reserved, c.talking, c.wrap_up, c.paused, c.leaving, list}
`)

// whereClaimScript records where an agent logs in (a new generation), unless
// a location is already recorded: then it returns that one.
//
// KEYS: where gen campaigns. ARGV: agent campaign node.
var whereClaimScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then return {'held', cur} end
local g = redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. g .. '|' .. ARGV[3])
redis.call('SADD', KEYS[3], ARGV[2])
return {'ok', tostring(g)}
`)

// whereSwapScript replaces an agent's recorded location only if it is still
// old (an empty new deletes it). KEYS: where. ARGV: agent old new.
var whereSwapScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
return 1
`)
