package promise

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/queue"
)

// A record JSON cannot hold (a year past 9999) is refused with its id; it
// used to be kept as an empty value that no follow-up could read.
func TestAddRefusesARecordJSONCannotHold(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	l := h.ledger
	id := fmt.Sprint("Y10K-", time.Now().UnixNano())
	err := l.add(ctx, Record{ID: id, Campaign: "c", Account: id, Amount: decimal.NewFromInt(1), Currency: "MXN",
		Due: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err == nil || !strings.Contains(err.Error(), id) {
		t.Fatalf("add: %v, want an error naming %s", err, id)
	}
	if _, err := l.get(ctx, id); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("refused record kept: %v", err)
	}
	if n, err := h.rdb.SCard(ctx, l.keys.account+id).Result(); err != nil || n != 0 {
		t.Errorf("refused record in its account's set: %d %v", n, err)
	}
}

// A record that does not decode is logged with its id and left out: the
// account's other promises are still paid.
func TestCorruptRecordDoesNotStallPayments(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	var log logs
	l := h.newLedger(t, with{log: &log})
	c, acct := h.campaignWith(t, "COR")
	if _, err := l.Capture(ctx, Record{ID: acct + "-ok", Campaign: c, Account: acct, Amount: decimal.NewFromInt(100), Currency: "MXN",
		Due: time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	bad := acct + "-bad"
	h.rdb.HSet(ctx, l.keys.all, bad, "{not json")
	h.rdb.SAdd(ctx, l.keys.account+acct, bad)
	res, err := l.RecordPayment(ctx, Payment{ID: acct + "-pay", Account: acct, Amount: decimal.NewFromInt(100), Currency: "MXN"})
	if err != nil || len(res.Kept) != 1 || res.Kept[0] != acct+"-ok" {
		t.Fatalf("payment: %+v %v", res, err)
	}
	if log.line("level=ERROR", "promise="+bad, "does not decode") == "" {
		t.Errorf("corrupt record not logged with its id:\n%s", log.String())
	}
}
