package analytics

import (
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Row is a record the writer can spool and insert: Attempt, Promise, Payment,
// Message, DNCEvent.
type Row interface {
	AppendBinary(b []byte) ([]byte, error)
	Validate() error
}

// rowPtr is a pointer to a row type that decodes itself from the spool.
type rowPtr[T any] interface {
	*T
	Row
	UnmarshalBinary(b []byte) error
}

// decodeAs is a Table's decode for rows of type T.
func decodeAs[T any, P rowPtr[T]](rec []byte) (Row, error) {
	r := P(new(T))
	return r, r.UnmarshalBinary(rec)
}

// Table knows how to insert one kind of spooled row.
type Table struct {
	Name    string
	Columns []string
	kind    byte
	// decode reads a spooled record.
	decode func(rec []byte) (Row, error)
	// values are the row's column values, in Columns order.
	values func(r Row) []any
}

// InsertSQL is the statement for PrepareBatch; the explicit column list is
// required by ClickHouse 18.16.
func (t *Table) InsertSQL(db string) string {
	return fmt.Sprintf("INSERT INTO %s.%s (%s)", db, t.Name, strings.Join(t.Columns, ", "))
}

// Decode reads a spooled record of this table.
func (t *Table) Decode(rec []byte) (Row, error) { return t.decode(rec) }

// Check says whether ClickHouse can hold r as it is: a value out of its
// column's range (which the driver would refuse, or ClickHouse would store
// wrong) is a *FieldError. Write checks this and more; the writer checks it
// again on delivery for rows spooled by an older binary.
func (t *Table) Check(r Row) error {
	if c, ok := r.(interface{ columnErr() error }); ok {
		return c.columnErr()
	}
	return nil
}

// Append appends r to a batch prepared with InsertSQL.
func (t *Table) Append(b driver.Batch, r Row) error { return b.Append(t.values(r)...) }

// Values maps each column to r's value (for a human reading a quarantined row).
func (t *Table) Values(r Row) map[string]any {
	v := t.values(r)
	m := make(map[string]any, len(v))
	for i, c := range t.Columns {
		m[c] = v[i]
	}
	return m
}

// AppendRecord decodes rec and appends it to b.
func (t *Table) AppendRecord(b driver.Batch, rec []byte) error {
	r, err := t.decode(rec)
	if err != nil {
		return err
	}
	return t.Append(b, r)
}

// epoch stands for "no time": ClickHouse DateTime and Date cannot hold Go's zero time.
var epoch = time.Unix(0, 0).UTC()

func orEpoch(t time.Time) time.Time {
	if t.IsZero() {
		return epoch
	}
	return t
}

func b2u8(v bool) uint8 {
	if v {
		return 1
	}
	return 0
}

var (
	attemptsTable = &Table{
		Name: "contact_attempts", kind: kindAttempt,
		Columns: []string{"attempt_id", "campaign_id", "account_id", "phone", "channel", "node_id", "trunk", "attempt_no",
			"started_at", "answered_at", "ended_at", "ring_ms", "talk_ms", "sip_code", "disposition", "reason", "amd",
			"agent_id", "abandoned", "dtmf", "ivr_path", "promise_amount", "promise_date", "currency", "message_sid",
			"message_status", "country", "local_hour", "local_weekday", "ver", "message_error", "segments", "template",
			"wrap_ms", "agent_code", "right_party", "recording", "recording_error", "amd_cause", "amd_ms", "segment"},
		decode: decodeAs[Attempt],
		values: func(r Row) []any { return attemptValues(r.(*Attempt)) },
	}
	promisesTable = &Table{
		Name: "promises", kind: kindPromise,
		Columns: []string{"promise_id", "campaign_id", "account_id", "attempt_id", "channel", "created_at", "due_date",
			"amount", "currency", "status", "node_id", "ver", "grace_days", "keep_percent", "country", "segment", "agent_id"},
		decode: decodeAs[Promise],
		values: func(r Row) []any {
			p := r.(*Promise)
			return []any{p.PromiseID, p.CampaignID, p.AccountID, p.AttemptID, string(p.Channel), p.CreatedAt,
				orEpoch(p.DueDate), p.Amount, p.Currency, p.Status, p.NodeID, p.Ver, p.GraceDays, p.KeepPercent, p.Country,
				p.Segment, p.AgentID}
		},
	}
	paymentsTable = &Table{
		Name: "payments", kind: kindPayment,
		Columns: []string{"payment_id", "campaign_id", "account_id", "promise_id", "paid_at", "amount", "currency",
			"method", "reference", "ver"},
		decode: decodeAs[Payment],
		values: func(r Row) []any {
			p := r.(*Payment)
			return []any{p.PaymentID, p.CampaignID, p.AccountID, p.PromiseID, p.PaidAt, p.Amount, p.Currency,
				p.Method, p.Reference, p.Ver}
		},
	}
	messagesTable = &Table{
		Name: "messages", kind: kindMessage,
		Columns: []string{"message_sid", "direction", "campaign_id", "account_id", "phone", "channel", "body", "action",
			"at", "node_id", "ver"},
		decode: decodeAs[Message],
		values: func(r Row) []any {
			m := r.(*Message)
			return []any{m.MessageSID, m.Direction, m.CampaignID, m.AccountID, m.Phone, string(m.Channel), m.Body,
				m.Action, m.At, m.NodeID, m.Ver}
		},
	}
	dncTable = &Table{
		Name: "dnc_events", kind: kindDNC,
		Columns: []string{"event_id", "phone", "channel", "campaign_id", "action", "reason", "source", "at", "node_id", "ver"},
		decode:  decodeAs[DNCEvent],
		values: func(r Row) []any {
			e := r.(*DNCEvent)
			return []any{e.EventID, e.Phone, string(e.Channel), e.CampaignID, e.Action, e.Reason, e.Source, e.At,
				e.NodeID, e.Ver}
		},
	}
)

var agentStatesTable = &Table{
	Name: "agent_states", kind: kindAgent,
	Columns: []string{"interval_id", "agent_id", "campaign_id", "node_id", "state", "reason", "started_at", "ended_at", "ver"},
	decode: func(rec []byte) (Row, error) {
		var s AgentState
		return &s, s.UnmarshalBinary(rec)
	},
	values: func(r Row) []any {
		s := r.(*AgentState)
		return []any{s.IntervalID, s.AgentID, s.CampaignID, s.NodeID, s.State, s.Reason, s.StartedAt, s.EndedAt, s.Ver}
	},
}

// Tables lists every table the writer inserts into, in a fixed order.
func Tables() []*Table {
	return []*Table{attemptsTable, promisesTable, paymentsTable, messagesTable, dncTable, agentStatesTable}
}

// TableOf returns the table a spooled record belongs to.
func TableOf(rec []byte) (*Table, error) {
	if len(rec) == 0 {
		return nil, fmt.Errorf("empty record")
	}
	for _, t := range Tables() {
		if t.kind == rec[0] {
			return t, nil
		}
	}
	return nil, fmt.Errorf("record kind %d: unknown", rec[0])
}

// AppendAttempt appends one attempt to a batch prepared with the
// contact_attempts InsertSQL.
func AppendAttempt(b driver.Batch, a *Attempt) error { return b.Append(attemptValues(a)...) }

func attemptValues(a *Attempt) []any {
	return []any{a.AttemptID, a.CampaignID, a.AccountID, a.Phone, string(a.Channel), a.NodeID, a.Trunk, a.AttemptNo,
		a.StartedAt, orEpoch(a.AnsweredAt), orEpoch(a.EndedAt), a.RingMS, a.TalkMS, a.SIPCode, a.Disposition, a.Reason, a.AMD,
		a.AgentID, b2u8(a.Abandoned), a.DTMF, a.IVRPath, a.PromiseAmount, orEpoch(a.PromiseDate), a.Currency, a.MessageSID,
		a.MessageStatus, a.Country, a.LocalHour, a.LocalWeekday, a.Ver, a.MessageError, a.Segments, a.Template,
		a.WrapMS, a.AgentCode, b2u8(a.RightParty), a.Recording, a.RecordingError, a.AMDCause, a.AMDMS, a.Segment}
}

// AttemptsTable is the contact_attempts table.
func AttemptsTable() *Table { return attemptsTable }
