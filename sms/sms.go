// Package sms reaches debtors by text and WhatsApp: the provider interface
// (Twilio's implementation is in sms/twilio), templates with their segment
// count, the sender that applies the compliance gate, idempotency, rate
// limits and retries, the delivery-status and inbound webhooks with
// opt-out keywords, and the texting state they keep in Redis (Store).
package sms

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/marcador/marcador/analytics"
)

// Message is one outbound message as a provider is asked to send it.
type Message struct {
	Channel analytics.Channel // sms or whatsapp
	To      string            // E.164, without any whatsapp: prefix
	Body    string
	// ContentSID and ContentVariables (a JSON object) send an approved
	// WhatsApp template instead of Body.
	ContentSID       string
	ContentVariables string
	StatusCallback   string
}

// Receipt is the provider's answer to a send.
type Receipt struct {
	SID      string
	Status   string // queued, accepted, sent, ...
	Segments int
	Created  time.Time
}

// Provider sends messages. Implementations are safe for concurrent use.
type Provider interface {
	Send(ctx context.Context, m Message) (Receipt, error)
	// Find returns a message to m.To with m's body created at or after
	// since: after an ambiguous failure (a timeout, a 5xx) the message may
	// exist, and sending again would text the debtor twice.
	Find(ctx context.Context, m Message, since time.Time) (Receipt, bool, error)
	// Sender names the number or service a channel sends from, the unit
	// the provider rate-limits.
	Sender(ch analytics.Channel) string
}

// Error is a provider's refusal, with its HTTP status and error code.
type Error struct {
	HTTPStatus int
	Code       int // e.g. Twilio 21211
	Message    string
}

func (e *Error) Error() string {
	return fmt.Sprintf("provider error %d (HTTP %d): %s", e.Code, e.HTTPStatus, e.Message)
}

// Retryable reports whether sending again later may succeed: throttled
// (429) or a server error.
func (e *Error) Retryable() bool { return e.HTTPStatus == 429 || e.HTTPStatus >= 500 }

// Ambiguous reports whether the message may have been created despite the
// error, so a retry must look for it first.
func (e *Error) Ambiguous() bool { return e.HTTPStatus >= 500 }

// ProviderError returns err's *Error, if it is one.
func ProviderError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// ErrorInfo says what a Twilio error code means for a debtor's number.
type ErrorInfo struct {
	Text        string
	Disposition string // the attempt's disposition: invalid_number, opted_out, failed, undelivered
	// Suppress is the do-not-contact channel the code lists the number on
	// ("all", "sms", "whatsapp"); "" when the number stays usable.
	Suppress string
}

// errorInfo covers the codes that change what we do with a number, and the
// common delivery failures (so reports read in words).
var errorInfo = map[int]ErrorInfo{
	21211: {"invalid 'To' phone number", analytics.InvalidNumber, "all"},
	21610: {"the recipient replied STOP to this sender (unsubscribed)", analytics.OptedOut, "channel"},
	21614: {"'To' is not a mobile number", analytics.InvalidNumber, "sms"},
	21612: {"the 'To' number cannot be reached from this sender", analytics.Failed, ""},
	21408: {"sending to this region is not enabled on the account", analytics.Failed, ""},
	21617: {"the message body exceeds 1600 characters", analytics.Failed, ""},
	30003: {"unreachable destination handset", analytics.Undelivered, ""},
	30004: {"message blocked by the recipient", analytics.Undelivered, "channel"},
	30005: {"unknown destination handset", analytics.Undelivered, "channel"},
	30006: {"landline or unreachable carrier", analytics.Undelivered, "sms"},
	30007: {"message filtered by the carrier", analytics.Undelivered, ""},
	30008: {"unknown delivery error", analytics.Undelivered, ""},
	63003: {"WhatsApp cannot find the recipient", analytics.Failed, "whatsapp"},
	63016: {"WhatsApp free-form message outside the 24-hour window; an approved template is needed", analytics.Failed, ""},
	63024: {"invalid WhatsApp recipient", analytics.Failed, "whatsapp"},
}

// Explain says what code means for a message on ch; unknown codes are
// failures that suppress nothing.
func Explain(code int, ch analytics.Channel) ErrorInfo {
	info, ok := errorInfo[code]
	if !ok {
		return ErrorInfo{Text: fmt.Sprintf("provider error %d", code), Disposition: analytics.Failed}
	}
	if info.Suppress == "channel" {
		info.Suppress = string(ch)
	}
	return info
}

// statusRank orders delivery statuses: a callback that arrives after a later
// one (sent after delivered) changes nothing.
var statusRank = map[string]int{
	"accepted": 1, "scheduled": 1, "queued": 1, "sending": 2, "sent": 3,
	"delivered": 4, "undelivered": 4, "failed": 4, "canceled": 4, "read": 5,
}

// StatusRank is status's place in a message's life; 0 for unknown ones.
func StatusRank(status string) int { return statusRank[status] }

// Disposition is the attempt disposition for a delivery status (a status
// we do not know is kept as it is).
func Disposition(status string) string {
	switch status {
	case "", "accepted", "scheduled", "queued":
		return analytics.Queued
	case "sending", "sent":
		return analytics.Sent
	case "delivered":
		return analytics.Delivered
	case "read":
		return analytics.Read
	case "undelivered":
		return analytics.Undelivered
	case "failed":
		return analytics.Failed
	case "canceled":
		return analytics.TextCanceled
	}
	return status
}
