// Package dialer places and controls outbound calls: trunks and their
// limits, SIP call legs with their own INVITE transaction loop, call-progress
// dispositions, and the media session of each answered call.
package dialer

// Dispositions of a call attempt (the contact_attempts.disposition column).
const (
	Answered      = "answered"
	Busy          = "busy"
	NoAnswer      = "no_answer"
	Rejected      = "rejected"
	InvalidNumber = "invalid_number"
	NetworkError  = "network_error"
	ConfigError   = "config_error"
	Cancelled     = "cancelled" // we stopped it before an answer for a reason other than the ring timeout
	// IVRError: the call was answered and the script failed (e.g. an amount
	// it cannot say); the debtor did not get the message, so it is retried.
	IVRError = "ivr_error"
	// IdentityFailed is one failed try of an inbound caller to prove who
	// they are (a row of its own, besides the call's).
	IdentityFailed = "identity_failed"
	// LocalError: the call never left this node (no free RTP port, no trunk
	// channel, a request refused before sending; Dial's error says which).
	// Nobody was contacted: it is not an attempt for compliance.
	LocalError = "local_error"
)

// Disposition maps a final SIP status to an outcome. ourTimeout says the
// call ended after we cancelled it on the ring timeout (so 487 is a no-answer,
// not a failure). authFailed says a 401/407 could not be answered.
//
// Codes not named by the product are grouped by class: other 4xx and 6xx are
// rejected, 3xx (we do not follow redirects) and other 5xx are network errors.
func Disposition(code int, ourTimeout bool) string {
	switch {
	case code >= 200 && code < 300:
		return Answered
	}
	switch code {
	case 486, 600:
		return Busy
	case 480, 408:
		return NoAnswer
	case 487:
		if ourTimeout {
			return NoAnswer
		}
		return Cancelled
	case 603, 403:
		return Rejected
	case 404, 484, 410, 604:
		return InvalidNumber
	case 401, 407, 488, 606, 415, 420:
		return ConfigError
	}
	switch {
	case code >= 500 && code < 600:
		return NetworkError
	case code >= 400:
		return Rejected
	case code >= 300 && code < 400:
		return NetworkError
	}
	return NetworkError
}
