// Package dialer places and controls outbound calls: trunks and their
// limits, SIP call legs with their own INVITE transaction loop, call-progress
// dispositions, and the media session of each answered call.
package dialer

import "github.com/marcador/marcador/analytics"

// Disposition maps a final SIP status to a call outcome (the names are
// analytics'). ourTimeout says the call ended after we cancelled it on the
// ring timeout (so 487 is a no-answer, not a failure).
//
// Codes not named by the product are grouped by class: other 4xx and 6xx are
// rejected, 3xx (we do not follow redirects) and other 5xx are network errors.
func Disposition(code int, ourTimeout bool) string {
	switch {
	case code >= 200 && code < 300:
		return analytics.Answered
	}
	switch code {
	case 486, 600:
		return analytics.Busy
	case 480, 408:
		return analytics.NoAnswer
	case 487:
		if ourTimeout {
			return analytics.NoAnswer
		}
		return analytics.Cancelled
	case 603, 403:
		return analytics.Rejected
	case 404, 484, 410, 604:
		return analytics.InvalidNumber
	case 401, 407, 488, 606, 415, 420:
		return analytics.ConfigError
	}
	switch {
	case code >= 500 && code < 600:
		return analytics.NetworkError
	case code >= 400:
		return analytics.Rejected
	case code >= 300 && code < 400:
		return analytics.NetworkError
	}
	return analytics.NetworkError
}
