// Package analytics owns what Marcador records about contacts: the row types
// (one contact attempt, a promise to pay, a payment), their ClickHouse schema
// and migrations, and the connection to ClickHouse. The batched, spooled
// writer lives in analytics/writer.
package analytics

import (
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// Channel is how a debtor was contacted.
type Channel string

const (
	Voice    Channel = "voice"
	SMS      Channel = "sms"
	WhatsApp Channel = "whatsapp"
)

// Channels are every channel the schema knows, voice first.
func Channels() []Channel { return []Channel{Voice, SMS, WhatsApp} }

// Valid reports whether c is one of the channels the schema knows.
func (c Channel) Valid() bool { return c == Voice || c == SMS || c == WhatsApp }

// Attempt is one contact attempt: every call, message or blocked try emits one.
// An attempt whose facts change later (an SMS delivery status, say) is written
// again with the same AttemptID and StartedAt and a higher Ver; queries read
// the newest version (FINAL or argMax by ver).
type Attempt struct {
	AttemptID     string
	CampaignID    string
	AccountID     string
	Phone         string
	Channel       Channel
	NodeID        string
	Trunk         string
	AttemptNo     uint16 // 1 for the account's first attempt in the campaign
	StartedAt     time.Time
	AnsweredAt    time.Time // zero when not answered
	EndedAt       time.Time
	RingMS        uint32
	TalkMS        uint32
	SIPCode       uint16
	Disposition   string // one of the names in disposition.go: answered, no_answer, blocked, delivered, ...
	Reason        string // why, in words: the compliance rule that blocked, the error text
	AMD           string // "", human, machine, notsure
	AgentID       string
	Abandoned     bool
	DTMF          string
	IVRPath       string
	PromiseAmount decimal.Decimal
	PromiseDate   time.Time // a calendar date; zero when none
	Currency      string
	MessageSID    string
	MessageStatus string // the provider's status: queued, sent, delivered, undelivered, failed, ...
	MessageError  uint32 // the provider's error code (Twilio 30003, 21610, ...); 0 when none
	Segments      uint8  // SMS segments billed (GSM-7 or UCS-2 count)
	Template      string // message template name
	// Agent calls (and AMD), from migration 007.
	WrapMS         uint32 // the agent's wrap-up after the call
	AgentCode      string // the agent's disposition code: promise, callback, refused, wrong_party, ... or a campaign's own
	RightParty     bool   // the debtor was reached (an agent's code or the IVR's identification says so)
	Recording      string // the call recording's path under recordings.dir; "" when not recorded
	RecordingError string // why a recording that should exist does not (disk full, unwritable)
	AMDCause       string // why AMD decided as it did (initial_silence, long_greeting, beep, ...)
	AMDMS          uint32 // when AMD decided, ms after the answer
	Country        string
	Segment        string // the account's segment (from the upload), from migration 008
	LocalHour      uint8  // the debtor's local hour at StartedAt
	LocalWeekday   uint8  // ISO: 1 = Monday ... 7 = Sunday
	Ver            uint64
}

// NewAttemptID returns a fresh, time-ordered attempt id (UUIDv7).
func NewAttemptID() string { return uuid.Must(uuid.NewV7()).String() }

// SetLocalTime fills LocalHour and LocalWeekday from StartedAt seen in the
// debtor's zone. They are stored because ClickHouse 18.16 cannot convert a
// per-row time zone at query time.
func (a *Attempt) SetLocalTime(loc *time.Location) {
	if loc == nil {
		loc = time.UTC
	}
	t := a.StartedAt.In(loc)
	a.LocalHour = uint8(t.Hour())
	wd := int(t.Weekday())
	if wd == 0 {
		wd = 7
	}
	a.LocalWeekday = uint8(wd)
}

// Validate reports what makes the row unwritable, naming the field (a
// *FieldError inside): a missing key, an id or code over its cap, or a value
// its column cannot hold.
func (a *Attempt) Validate() error {
	if a.AttemptID == "" {
		return fmt.Errorf("attempt: %w", fieldErr("attempt_id", "missing"))
	}
	err := checks(
		ids("attempt_id", a.AttemptID, "campaign_id", a.CampaignID, "account_id", a.AccountID, "node_id", a.NodeID,
			"trunk", a.Trunk, "agent_id", a.AgentID, "message_sid", a.MessageSID, "template", a.Template),
		codes("agent_code", a.AgentCode, "amd_cause", a.AMDCause),
		CheckString("recording", a.Recording, MaxPathBytes),
		CheckString("phone", a.Phone, MaxPhoneBytes),
		codes("disposition", a.Disposition, "amd", a.AMD, "message_status", a.MessageStatus, "country", a.Country,
			"currency", a.Currency, "segment", a.Segment),
		a.columnErr(),
	)
	if err == nil && a.CampaignID == "" {
		err = fieldErr("campaign_id", "missing")
	}
	if err != nil {
		return fmt.Errorf("attempt %s: %w", clip(a.AttemptID, MaxIDBytes), err)
	}
	return nil
}

// columnErr checks what ClickHouse would refuse or store wrong.
func (a *Attempt) columnErr() error {
	switch {
	case !a.Channel.Valid():
		return fieldErr("channel", "%q: want voice, sms or whatsapp", clip(string(a.Channel), 16))
	case a.SIPCode != 0 && (a.SIPCode < 100 || a.SIPCode > 699):
		return fieldErr("sip_code", "%d: want 100-699, or 0 for none", a.SIPCode)
	case a.LocalHour > 23:
		return fieldErr("local_hour", "%d: want 0-23", a.LocalHour)
	case a.LocalWeekday > 7:
		return fieldErr("local_weekday", "%d: want 1-7 (Monday-Sunday), or 0 when unknown", a.LocalWeekday)
	case a.PromiseAmount.IsNegative():
		return fieldErr("promise_amount", "%s is negative", short(a.PromiseAmount))
	}
	return checks(
		CheckDateTime("started_at", a.StartedAt, true),
		CheckDateTime("answered_at", a.AnsweredAt, false),
		CheckDateTime("ended_at", a.EndedAt, false),
		CheckMoney("promise_amount", a.PromiseAmount),
		CheckDate("promise_date", a.PromiseDate),
	)
}

const (
	kindAttempt byte = 1
	kindPromise byte = 2
	kindPayment byte = 3
	kindMessage byte = 4
	kindDNC     byte = 5
	kindAgent   byte = 6

	attemptV1 byte = 1
	attemptV2 byte = 2 // adds MessageError, Segments, Template
	attemptV3 byte = 3 // adds WrapMS, AgentCode, RightParty, Recording, RecordingError, AMDCause, AMDMS
	attemptV4 byte = 4 // adds Segment
)

// AppendBinary appends the spool encoding of a to b.
func (a *Attempt) AppendBinary(b []byte) ([]byte, error) {
	e := enc{b: append(b, kindAttempt, attemptV4)}
	e.str(a.AttemptID)
	e.str(a.CampaignID)
	e.str(a.AccountID)
	e.str(a.Phone)
	e.str(string(a.Channel))
	e.str(a.NodeID)
	e.str(a.Trunk)
	e.u(uint64(a.AttemptNo))
	e.t(a.StartedAt)
	e.t(a.AnsweredAt)
	e.t(a.EndedAt)
	e.u(uint64(a.RingMS))
	e.u(uint64(a.TalkMS))
	e.u(uint64(a.SIPCode))
	e.str(a.Disposition)
	e.str(ClipText(a.Reason, MaxReasonBytes))
	e.str(a.AMD)
	e.str(a.AgentID)
	e.bool(a.Abandoned)
	e.str(ClipText(a.DTMF, MaxPathBytes))
	e.str(ClipText(a.IVRPath, MaxPathBytes))
	e.dec(a.PromiseAmount)
	e.t(a.PromiseDate)
	e.str(a.Currency)
	e.str(a.MessageSID)
	e.str(a.MessageStatus)
	e.str(a.Country)
	e.u(uint64(a.LocalHour))
	e.u(uint64(a.LocalWeekday))
	e.u(a.Ver)
	e.u(uint64(a.MessageError))
	e.u(uint64(a.Segments))
	e.str(a.Template)
	e.u(uint64(a.WrapMS))
	e.str(a.AgentCode)
	e.bool(a.RightParty)
	e.str(a.Recording)
	e.str(ClipText(a.RecordingError, MaxReasonBytes))
	e.str(a.AMDCause)
	e.u(uint64(a.AMDMS))
	e.str(a.Segment)
	return e.b, nil
}

// UnmarshalBinary decodes what AppendBinary wrote, in this or an earlier
// format (a spool written before an upgrade is still delivered).
func (a *Attempt) UnmarshalBinary(b []byte) error {
	d, v, err := openRecord(b, kindAttempt, "attempt", attemptV1, attemptV2, attemptV3, attemptV4)
	if err != nil {
		return err
	}
	*a = Attempt{
		AttemptID:     d.str(),
		CampaignID:    d.str(),
		AccountID:     d.str(),
		Phone:         d.str(),
		Channel:       Channel(d.str()),
		NodeID:        d.str(),
		Trunk:         d.str(),
		AttemptNo:     u16(d.u()),
		StartedAt:     d.t(),
		AnsweredAt:    d.t(),
		EndedAt:       d.t(),
		RingMS:        u32(d.u()),
		TalkMS:        u32(d.u()),
		SIPCode:       u16(d.u()),
		Disposition:   d.str(),
		Reason:        d.str(),
		AMD:           d.str(),
		AgentID:       d.str(),
		Abandoned:     d.bool(),
		DTMF:          d.str(),
		IVRPath:       d.str(),
		PromiseAmount: d.decimal(),
		PromiseDate:   d.t(),
		Currency:      d.str(),
		MessageSID:    d.str(),
		MessageStatus: d.str(),
		Country:       d.str(),
		LocalHour:     u8(d.u()),
		LocalWeekday:  u8(d.u()),
		Ver:           d.u(),
	}
	if v >= attemptV2 {
		a.MessageError = u32(d.u())
		a.Segments = u8(d.u())
		a.Template = d.str()
	}
	if v >= attemptV3 {
		a.WrapMS = u32(d.u())
		a.AgentCode = d.str()
		a.RightParty = d.bool()
		a.Recording = d.str()
		a.RecordingError = d.str()
		a.AMDCause = d.str()
		a.AMDMS = u32(d.u())
	}
	if v >= attemptV4 {
		a.Segment = d.str()
	}
	return d.close("attempt")
}
