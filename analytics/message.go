package analytics

import (
	"fmt"
	"time"
)

// Message is one text in a conversation with a debtor that is not itself a
// contact attempt: a reply the debtor sent, or what we answered to it.
// Outbound campaign messages are attempts (Attempt with channel sms or
// whatsapp); the conversation an agent reads is both, by phone.
type Message struct {
	MessageSID string
	Direction  string // inbound, reply
	CampaignID string // the account's campaign when the sender is known
	AccountID  string
	Phone      string // the debtor's number, E.164
	Channel    Channel
	Body       string
	Action     string // what the text did: optout, paylink, conversation
	At         time.Time
	NodeID     string
	Ver        uint64
}

const messageV1 byte = 1

// Validate reports what makes the row unwritable, naming the field. The
// body is clipped to MaxBodyBytes when spooled, never refused.
func (m *Message) Validate() error {
	if m.MessageSID == "" {
		return fmt.Errorf("message: %w", fieldErr("message_sid", "missing"))
	}
	err := checks(
		ids("message_sid", m.MessageSID, "campaign_id", m.CampaignID, "account_id", m.AccountID, "node_id", m.NodeID),
		CheckString("phone", m.Phone, MaxPhoneBytes),
		codes("direction", m.Direction, "action", m.Action),
		m.columnErr(),
	)
	if err != nil {
		return fmt.Errorf("message %s: %w", clip(m.MessageSID, MaxIDBytes), err)
	}
	return nil
}

func (m *Message) columnErr() error {
	if !m.Channel.Valid() || m.Channel == Voice {
		return fieldErr("channel", "%q: want sms or whatsapp", clip(string(m.Channel), 16))
	}
	return CheckDateTime("at", m.At, true)
}

// AppendBinary appends the spool encoding of m to b.
func (m *Message) AppendBinary(b []byte) ([]byte, error) {
	e := enc{b: append(b, kindMessage, messageV1)}
	e.str(m.MessageSID)
	e.str(m.Direction)
	e.str(m.CampaignID)
	e.str(m.AccountID)
	e.str(m.Phone)
	e.str(string(m.Channel))
	e.str(ClipText(m.Body, MaxBodyBytes))
	e.str(m.Action)
	e.t(m.At)
	e.str(m.NodeID)
	e.u(m.Ver)
	return e.b, nil
}

// UnmarshalBinary decodes what AppendBinary wrote.
func (m *Message) UnmarshalBinary(b []byte) error {
	d, _, err := openRecord(b, kindMessage, "message", messageV1)
	if err != nil {
		return err
	}
	*m = Message{MessageSID: d.str(), Direction: d.str(), CampaignID: d.str(), AccountID: d.str(), Phone: d.str(),
		Channel: Channel(d.str()), Body: d.str(), Action: d.str(), At: d.t(), NodeID: d.str(), Ver: d.u()}
	return d.close("message")
}
