package analytics

// What an attempt row counts as in the KPIs (README "KPIs"), written once
// as SQL conditions over a contact_attempts row, beside the disposition
// names they use. The KPI roll-ups (analytics/kpi) and migration 011's
// kpi_account_attempts view are built on them: changing one needs a
// migration that rebuilds the view (and a refresh of the roll-ups).
const (
	// SQLAttempt: a contact attempt with a known debtor. Not: a try the
	// compliance gate refused (blocked), a call that never left the node
	// (local_error), one failed identification on the callback line
	// (identity_failed, a row besides its call's), a caller never
	// verified (no account).
	SQLAttempt = `(account_id != '' AND disposition NOT IN ('` + Blocked + `', '` + LocalError + `', '` + IdentityFailed + `'))`

	// SQLLive: a call answered by a person (the denominator of the
	// abandon rate): answered (whoever it was: wrong_party and
	// not_verified are answered calls) or abandoned, and not a machine.
	SQLLive = `(channel = 'voice' AND disposition IN ('` + Answered + `', '` + WrongParty + `', '` + NotVerified + `', '` + Abandoned + `') AND amd != 'machine')`

	// SQLAbandoned: a person answered and no agent came in time.
	SQLAbandoned = `(channel = 'voice' AND (abandoned = 1 OR disposition = '` + Abandoned + `'))`

	// SQLContact: a live person reached, in a conversation: a call
	// answered by a person (AMD human, notsure or not run) and not
	// abandoned, whoever it was (a wrong party, or someone who did not
	// verify, is a contact and no RPC), or a verified caller on the
	// callback line.
	SQLContact = `(channel = 'voice' AND account_id != '' AND ((disposition IN ('` + Answered + `', '` + WrongParty + `', '` + NotVerified + `') AND amd IN ('', 'human', 'notsure') AND abandoned = 0) OR disposition = '` + Inbound + `'))`

	// SQLRightParty: a contact with the debtor: the agent's code or the
	// IVR's identification said so (right_party), or the caller proved who
	// they are.
	SQLRightParty = `(` + SQLContact + ` AND (right_party = 1 OR disposition = '` + Inbound + `'))`

	// SQLTextSent: a text the provider accepted (it has a message sid).
	SQLTextSent = `(channel != 'voice' AND message_sid != '')`

	// SQLTextDelivered: a text the provider reported delivered (or read).
	SQLTextDelivered = `(channel != 'voice' AND disposition IN ('` + Delivered + `', '` + Read + `'))`

	// SQLTouch: what a payment is attributed to (recovery): a contact, or a
	// text delivered. A row that is a touch stays one in its later
	// versions (a delivered text only becomes read).
	SQLTouch = `(` + SQLContact + ` OR ` + SQLTextDelivered + `)`

	// SQLPlaced: a call that went out on a trunk (what a carrier bills).
	SQLPlaced = `(channel = 'voice' AND disposition NOT IN ('` + Blocked + `', '` + LocalError + `', '` + IdentityFailed + `', '` + Inbound + `'))`

	// SQLTrunkFailure: a call the trunk or the carrier failed (a 5xx, a
	// timeout): network_error.
	SQLTrunkFailure = `(channel = 'voice' AND disposition = '` + NetworkError + `')`

	// SQLAccountBucket spreads accounts over the 16384 buckets the
	// account-keyed roll-ups (per-debtor figures, promise outcomes, payment
	// attribution) are refreshed by: a busy minute touches a few percent.
	SQLAccountBucket = `toUInt32(cityHash64(account_id) % 16384)`
)

// Spoke says a call's row stands for a conversation the compliance caps
// count (a contact and a conversation with the debtor), on the script's
// side: answered, or answered and the script failed later (ivr_error), and
// whoever answered keyed (keyed: the row has an IVR path and keys). A
// right-party check that did not verify whoever answered leaves the row
// wrong_party or not_verified, whatever happened after, so an answered or
// ivr_error row is the debtor who proved it or a call no check was asked
// of. The runner decides by it as the call ends and `marcador redis
// restore` from the row; an agent's call counts by AgentTalked besides.
func Spoke(ch Channel, disposition string, keyed bool) bool {
	return ch == Voice && (disposition == Answered || disposition == IVRError) && keyed
}

// AgentTalked says a call's row stands for a conversation the compliance
// caps count on the agent's side: the debtor was bridged to an agent
// (talkMS, an agent call's bridged time, is at least 1 once bridged and 0
// when never), the call was not revised to a machine, and the agent's
// code (if any) does not say it was someone else. The runner decides by it
// as the call ends, `marcador redis restore` from the row.
func AgentTalked(agentID string, talkMS uint32, disposition, agentCode string, rightParty bool) bool {
	return agentID != "" && talkMS > 0 && disposition != Machine && (agentCode == "" || rightParty)
}
