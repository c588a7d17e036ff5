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

// Validate reports what makes the row unwritable.
func (m *Message) Validate() error {
	switch {
	case m.MessageSID == "":
		return fmt.Errorf("message: message_sid is empty")
	case !m.Channel.Valid() || m.Channel == Voice:
		return fmt.Errorf("message %s: channel %q: want sms or whatsapp", m.MessageSID, m.Channel)
	case m.At.IsZero():
		return fmt.Errorf("message %s: time is zero", m.MessageSID)
	}
	return nil
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
	e.str(m.Body)
	e.str(m.Action)
	e.t(m.At)
	e.str(m.NodeID)
	e.u(m.Ver)
	return e.b, nil
}

// UnmarshalBinary decodes what AppendBinary wrote.
func (m *Message) UnmarshalBinary(b []byte) error {
	if len(b) < 2 || b[0] != kindMessage || b[1] != messageV1 {
		return fmt.Errorf("message row: not a version %d message record", messageV1)
	}
	d := dec{b: b[2:]}
	*m = Message{MessageSID: d.str(), Direction: d.str(), CampaignID: d.str(), AccountID: d.str(), Phone: d.str(),
		Channel: Channel(d.str()), Body: d.str(), Action: d.str(), At: d.t(), NodeID: d.str(), Ver: d.u()}
	if d.err != nil {
		return fmt.Errorf("message row: %w", d.err)
	}
	return nil
}
