// Package agent is the agent pool: agents' definitions and credentials,
// their states, the idle queue the bridge reserves from, the leases that
// tie agents to the node holding their legs, the abandon counters, and the
// snapshot a pacer reads. Everything lives in Redis; a Pool holds nothing, so
// any node can serve any request about any agent.
//
// # States
//
//	logged_out → ready → reserved → talking → wrap_up → ready
//	                 ↘ paused ↗ (reason code)
//
// Login lands in ready, or in paused with reason "login" until the node has
// the agent's nailed-up leg up and calls Ready. Pause and Logout act at once
// from ready or paused; asked for in a call (reserved, talking, wrap_up) they
// are recorded as Status.Leaving (pacing.Agent.Leaving) and applied when the
// call ends (Release, EndWrap); Ready cancels them. Disconnect (a dropped
// leg) pauses at once from any logged-in state. Every other transition is
// refused with a *TransitionError naming the current state (HTTP 409).
//
// Every transition is one Lua script on the campaign's keys, stamped with the
// pool's injected clock (passed in, never Redis TIME), and publishes an
// Event on the campaign's stream (XADD MAXLEN ~), which Events and Follow
// read.
//
// # One campaign, one node
//
// While logged in an agent works one campaign (multi-campaign agents can come
// later: they would need one idle entry per campaign and a reservation
// that removes all of them, i.e. one slot for all those campaigns). It is
// held by one node, the one holding its SIP leg, recorded with a lease the
// node renews (Renew); when a node stops renewing, Reap (any node, any time,
// idempotent) logs its agents out with reason node_lost once the lease has
// expired, and a restarting node Evicts its own agents at once. Node clocks
// must agree to well within the lease (NTP).
//
// Reserve takes the longest-idle ready agent of a campaign held by the
// calling node (a node bridges only to legs it holds). Ready agents are in a
// zset per campaign and node scored by idle-since; the pick and the state
// change are one script, so two debtors answered at the same instant never
// get the same agent, whatever the number of processes. Release (the call
// failed before the bridge) keeps the agent's idle-since: the agent got no
// call, so it stays at the head of the queue and gets the next one; EndWrap
// puts it at the back (idle from then).
//
// # Redis keys and hash slots
//
// A campaign's agent keys carry the campaign's own hash tag, {campaign-id},
// the tag of its queue keys (queue package), so every state script touches
// one slot and a later script can change a campaign's queue and agents
// together (preview mode leases a contact to an agent):
//
//	marcador:{C}:agent_state        hash agent → state entry (JSON)
//	marcador:{C}:agent_idle:<node>  zset agent → idle since (ms), ready agents the node holds
//	marcador:{C}:agent_held:<node>  set of the agents the node holds (what Renew renews)
//	marcador:{C}:agent_lease        zset agent → lease expiry (ms)
//	marcador:{C}:agent_events       stream of transitions (MAXLEN ~ Options.StreamMaxLen)
//	marcador:{C}:agent_day:<date>   hash <agent>:calls, <agent>:<state>_ms (35 days)
//	marcador:{C}:answers:<date>     hash live, abandoned, machine (35 days)
//	marcador:{C}:answers_revised:<date>  set of calls AMD revised from live to machine (Revise; 35 days)
//	marcador:{C}:callbacks          hash account → "agent|until ms": personal call backs
//
// Definitions and the indexes over them share the tag {agents}, one slot, so
// a definition and its SIP user's index entry change in one script and a SIP
// user can never belong to two agents. Definitions are small and change
// rarely; the hot path (reserve, transitions, snapshots) never touches them.
//
//	marcador:{agents}:agent:<id>  hash: id, name, sip_user, campaigns, language,
//	                              created_at, updated_at, realm, ha1_md5, ha1_sha256
//	marcador:{agents}:sip_users   hash SIP user → agent id (unique)
//	marcador:{agents}:ids         set of agent ids
//	marcador:{agents}:where       hash agent → "campaign|generation|node" while logged in
//	marcador:{agents}:gen         hash agent → last login generation
//	marcador:{agents}:campaigns   set of campaigns agents have logged in to
//
// Where an agent is logged in is in the directory's slot, its state in the
// campaign's: a login is two scripts. The location is claimed first with a
// new generation; a login that finds a stale location (the agent logged out
// there) spends that generation in the old campaign before taking it over,
// and the campaign's login script refuses a spent generation, so two logins
// racing to two campaigns never both win. A location left behind by a crash
// between the two steps is stale, and the next login clears it.
//
// # Calls and screens
//
// An agent call is held by the node that placed it (it has both legs).
// Calls (calls.go) makes it findable and actionable from any node: its live
// state in marcador:call:<id>, and actions sent to the holder over the
// holder's Pub/Sub channel marcador:calls:<node> (one subscription a node).
// Desk (desk.go) carries what an agent's screen is told (the screen pop,
// the call's end, wrap-up's end) on one stream, marcador:{agents}:desk,
// that every node follows once and fans out to its subscribers. The
// Station tells its OnCallLost which call an agent had when its leg
// dropped.
//
// # Credentials
//
// The password is never stored: Put keeps HA1 = H(user:realm:password) for
// MD5 and SHA-256 with the realm they were made for. Get, List and Roster
// never read them; only Credentials (for the registrar) does. An HA1 answers
// challenges for its realm like the password would, so Redis must be
// protected as the password store it is.
package agent
