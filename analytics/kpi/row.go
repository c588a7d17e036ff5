package kpi

import (
	"math"

	"github.com/shopspring/decimal"
)

// Report is the KPIs of a filter, one row per group and the total.
type Report struct {
	From            string `json:"from"`
	To              string `json:"to"`
	TZ              string `json:"tz"`
	By              By     `json:"by"`
	AttributionDays int    `json:"attribution_days"`
	// Source is where the figures were read: rollup, or raw (the baseline,
	// and time zones whose offset is not whole hours).
	Source string `json:"source"`
	Rows   []Row  `json:"rows"`
	Total  Row    `json:"total"`
}

// Money is amounts by ISO 4217 currency.
type Money map[string]decimal.Decimal

// Ratio is a share per currency.
type Ratio map[string]float64

// Row is one group's KPIs (README "KPIs" defines each). A rate whose
// denominator is zero, and a figure the filter cannot apply to (agents'
// time by segment, say), is null.
type Row struct {
	Key string `json:"key"`

	Attempts          uint64   `json:"attempts"`
	Debtors           uint64   `json:"debtors"`
	Contacts          uint64   `json:"contacts"`
	DebtorsReached    uint64   `json:"debtors_reached"`
	RPC               uint64   `json:"rpc"`
	DebtorsRPC        uint64   `json:"debtors_rpc"`
	ContactRate       *float64 `json:"contact_rate"`
	DebtorContactRate *float64 `json:"debtor_contact_rate"`
	RPCRate           *float64 `json:"rpc_rate"`
	DebtorRPCRate     *float64 `json:"debtor_rpc_rate"`

	Promises       uint64   `json:"promises"`
	PromiseRate    *float64 `json:"promise_rate"`
	Promised       Money    `json:"promised"`
	Kept           uint64   `json:"kept"`
	Broken         uint64   `json:"broken"`
	Pending        uint64   `json:"pending"`
	KeptRate       *float64 `json:"kept_rate"`
	KeptAmount     Money    `json:"kept_amount"`
	KeptAmountRate Ratio    `json:"kept_amount_rate"`
	PaidOnTime     Money    `json:"paid_on_time"`

	RecoveredPayments uint64 `json:"recovered_payments"`
	Recovered         Money  `json:"recovered"`

	LiveAnswers   uint64   `json:"live_answers"`
	Abandoned     uint64   `json:"abandoned"`
	AbandonRate   *float64 `json:"abandon_rate"`
	AbandonRate30 *float64 `json:"abandon_rate_30d"`
	Machines      uint64   `json:"machines"`

	AgentHours           *float64 `json:"agent_hours"`
	Occupancy            *float64 `json:"occupancy"`
	TalkMinutesPerHour   *float64 `json:"talk_minutes_per_agent_hour"`
	Connects             uint64   `json:"connects"`
	ConnectsPerAgentHour *float64 `json:"connects_per_agent_hour"`
	AHTSeconds           *float64 `json:"aht_seconds"`

	TextsSent      uint64   `json:"texts_sent"`
	TextsDelivered uint64   `json:"texts_delivered"`
	DeliveryRate   *float64 `json:"delivery_rate"`
	Replies        *uint64  `json:"replies"`
	OptOuts        *uint64  `json:"opt_outs"`
	ReplyRate      *float64 `json:"reply_rate"`
	OptOutRate     *float64 `json:"opt_out_rate"`

	Cost           Money `json:"cost"`
	CostPerContact Money `json:"cost_per_contact"`
	CostPerPromise Money `json:"cost_per_promise"`

	// What the rates are computed from, kept to add rows up.
	handleMS                     uint64
	agentSec, talkSec, wrapSec   uint64
	agentsKnown, repliesKnown    bool
	abandoned30, live30          uint64
	decidedAmount                Money
	placedSec, placed, texts, sg map[string]uint64 // billing by channel/trunk
}

// ratio is n/d rounded to 4 places, nil when d is 0.
func ratio(n, d float64) *float64 { return rounded(n, d, 4) }

func rounded(n, d float64, places int) *float64 {
	if d == 0 {
		return nil
	}
	p := math.Pow(10, float64(places))
	v := math.Round(n/d*p) / p
	return &v
}

func (m Money) add(cur string, d decimal.Decimal) Money {
	if m == nil {
		m = Money{}
	}
	m[cur] = m[cur].Add(d)
	return m
}

// finish computes r's rates from its counts.
func (r *Row) finish(costs Costs) {
	f := func(v uint64) float64 { return float64(v) }
	r.ContactRate = ratio(f(r.Contacts), f(r.Attempts))
	r.DebtorContactRate = ratio(f(r.DebtorsReached), f(r.Debtors))
	r.RPCRate = ratio(f(r.RPC), f(r.Attempts))
	r.DebtorRPCRate = ratio(f(r.DebtorsRPC), f(r.Debtors))
	r.PromiseRate = ratio(f(r.Promises), f(r.RPC))
	r.KeptRate = ratio(f(r.Kept), f(r.Kept+r.Broken))
	for cur, d := range r.decidedAmount {
		if d.IsPositive() {
			v, _ := r.KeptAmount[cur].Div(d).Round(4).Float64()
			if r.KeptAmountRate == nil {
				r.KeptAmountRate = Ratio{}
			}
			r.KeptAmountRate[cur] = v
		}
	}
	r.AbandonRate = ratio(f(r.Abandoned), f(r.LiveAnswers))
	if r.live30 > 0 {
		r.AbandonRate30 = ratio(f(r.abandoned30), f(r.live30))
	}
	if r.agentsKnown {
		r.AgentHours = rounded(f(r.agentSec), 3600, 2)
		r.Occupancy = ratio(f(r.talkSec+r.wrapSec), f(r.agentSec))
		r.TalkMinutesPerHour = rounded(f(r.talkSec)/60, f(r.agentSec)/3600, 2)
		r.ConnectsPerAgentHour = rounded(f(r.Connects), f(r.agentSec)/3600, 2)
	}
	r.AHTSeconds = rounded(f(r.handleMS)/1000, f(r.Connects), 1)
	r.DeliveryRate = ratio(f(r.TextsDelivered), f(r.TextsSent))
	if r.repliesKnown {
		r.ReplyRate = ratio(f(*r.Replies), f(r.TextsDelivered))
		r.OptOutRate = ratio(f(*r.OptOuts), f(r.TextsDelivered))
	} else {
		r.Replies, r.OptOuts = nil, nil
	}
	if costs.Configured() {
		cost := decimal.Zero
		for key, n := range r.placed {
			ch, trunk := splitBilling(key)
			switch ch {
			case "voice":
				if tc, ok := costs.Trunks[trunk]; ok {
					cost = cost.Add(tc.PerCall.Mul(decimal.NewFromInt(int64(n))))
					cost = cost.Add(tc.PerMinute.Mul(decimal.NewFromInt(int64(r.placedSec[key]))).Div(decimal.NewFromInt(60)))
				}
			}
		}
		for key, n := range r.texts {
			switch ch, _ := splitBilling(key); ch {
			case "sms":
				cost = cost.Add(costs.SMSPerSegment.Mul(decimal.NewFromInt(int64(r.sg[key]))))
			case "whatsapp":
				cost = cost.Add(costs.WhatsAppPerMessage.Mul(decimal.NewFromInt(int64(n))))
			}
		}
		cost = cost.Round(4)
		r.Cost = Money{costs.Currency: cost}
		if r.Contacts > 0 {
			r.CostPerContact = Money{costs.Currency: cost.Div(decimal.NewFromInt(int64(r.Contacts))).Round(4)}
		}
		if r.Promises > 0 {
			r.CostPerPromise = Money{costs.Currency: cost.Div(decimal.NewFromInt(int64(r.Promises))).Round(4)}
		}
	}
}

func billingKey(channel, trunk string) string { return channel + "\x00" + trunk }

func splitBilling(k string) (channel, trunk string) {
	for i := 0; i < len(k); i++ {
		if k[i] == 0 {
			return k[:i], k[i+1:]
		}
	}
	return k, ""
}
