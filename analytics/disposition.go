package analytics

// Dispositions: the values of an attempt's Disposition (the
// contact_attempts.disposition column), for every channel. They are
// defined here, beside the row, so that every package that sets or reads
// one (the dialer, the campaign runner, the SMS sender, the queue's
// fallback rules, reports) spells it the same way; the dialer maps SIP
// codes to them (dialer.Disposition), the SMS package provider statuses
// and error codes.
const (
	// Outcomes of a placed call.
	Answered      = "answered"
	Busy          = "busy"
	NoAnswer      = "no_answer"
	Rejected      = "rejected"
	InvalidNumber = "invalid_number" // also a text the provider refused for the number
	NetworkError  = "network_error"
	ConfigError   = "config_error" // also a text that could not be rendered
	Cancelled     = "cancelled"    // we stopped it before an answer for a reason other than the ring timeout
	Machine       = "machine"      // an answering machine took it
	Abandoned     = "abandoned"    // answered, and no agent came in time
	// WrongParty: answered, and whoever answered said they are not the
	// debtor at an outbound script's right-party check (the agents' code of
	// the same name says it of a call an agent took). A contact, never a
	// right-party one; the account is retried (retry.delays.wrong_party).
	WrongParty = "wrong_party"
	// NotVerified: answered, and whoever answered did not prove they are
	// the debtor (a wrong answer, none, or a hang-up before): they heard
	// nothing about the account. A contact, never a right-party one.
	NotVerified = "not_verified"
	// IVRError: the call was answered and the script failed (e.g. an amount
	// it cannot say); the debtor did not get the message, so it is retried.
	IVRError = "ivr_error"

	// Calls that are not a placed call's outcome.

	// LocalError: the call never left this node (no free RTP port, no trunk
	// channel, a request refused before sending; the dial error says which).
	// Nobody was contacted: it is not an attempt for compliance.
	LocalError = "local_error"
	// Interrupted: the node placing the call stopped before its outcome was
	// recorded; another node writes it when it claims the contact again.
	Interrupted = "interrupted"
	// Inbound marks an answered call the debtor made to us.
	Inbound = "inbound"
	// IdentityFailed is one failed try of an inbound caller to prove who
	// they are (a row of its own, besides the call's).
	IdentityFailed = "identity_failed"

	// Blocked: refused by the compliance gate or a do-not-contact list
	// before anything was sent, on any channel.
	Blocked = "blocked"

	// A text's progress, from the provider's status (queued, then sent, then
	// one of the final ones) or its error code. They share the column
	// because a text is an attempt like a call: reports count both by
	// disposition and channel.
	Queued      = "queued"
	Sent        = "sent"
	Delivered   = "delivered"
	Read        = "read"
	Undelivered = "undelivered"
	Failed      = "failed"
	// TextCanceled is a scheduled text called off at the provider (Twilio's
	// spelling; a call stopped early is Cancelled).
	TextCanceled = "canceled"
	OptedOut     = "opted_out" // the provider refuses: the number unsubscribed from the sender
)

// CallOutcomes are the dispositions a placed call can end with, in the
// order reports and error messages list them.
func CallOutcomes() []string {
	return []string{Answered, WrongParty, NotVerified, Busy, NoAnswer, Rejected, InvalidNumber, NetworkError, ConfigError, Cancelled, Machine,
		Abandoned, IVRError}
}
