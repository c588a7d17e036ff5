package queue_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/redistest"
)

func TestKeypadID(t *testing.T) {
	for in, want := range map[string]string{
		"1.023.456.789": "1023456789", "12.345.678-5": "123456785", "A00042": "", "GOMA800101HDFRRL09": "",
		"123": "", "4471 2210": "44712210", "12.345.678-K": "",
	} {
		if got := queue.KeypadID(in); got != want {
			t.Errorf("KeypadID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLookupByPhoneAndKeyedID(t *testing.T) {
	rdb := redistest.Client(t)
	c := redistest.CampaignID(t, rdb)
	s := queue.New(queue.Options{Client: rdb, NodeID: "n1"})
	ctx := context.Background()
	run := time.Now().UnixNano() % 1e7
	num := fmt.Sprintf("+57301%07d", run)
	acct := queue.Account{ID: fmt.Sprint("L", run), NationalID: fmt.Sprintf("1.0%08d", run), Country: "CO", Currency: "COP",
		Phones: []queue.Phone{{Number: fmt.Sprintf("+57300%07d", run)}, {Number: num}}, Balance: decimal.NewFromInt(5000)}
	if _, err := s.Load(ctx, c, []queue.Account{acct}, t0); err != nil {
		t.Fatal(err)
	}
	got, refs, err := s.LookupPhone(ctx, num)
	if err != nil || len(got) != 1 || got[0].ID != acct.ID || refs[0] != (queue.Ref{Campaign: c, Account: acct.ID}) {
		t.Fatalf("by second phone: %v %v %v", got, refs, err)
	}
	got, _, err = s.LookupID(ctx, queue.KeypadID(acct.NationalID))
	if err != nil || len(got) != 1 || got[0].ID != acct.ID {
		t.Fatalf("by national id: %v %v", got, err)
	}
	if got, _, _ := s.LookupPhone(ctx, "+573009999999999"); len(got) != 0 {
		t.Fatalf("unknown number found %v", got)
	}
	// A deleted campaign's entries are skipped.
	if err := s.DeleteCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := s.LookupPhone(ctx, num); len(got) != 0 {
		t.Fatalf("deleted campaign still found: %v", got)
	}
}
