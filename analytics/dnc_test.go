package analytics_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/chtest"
	"github.com/marcador/marcador/analytics/writer/writertest"
)

func TestDNCEventRoundTrip(t *testing.T) {
	e := analytics.DNCEvent{EventID: "e1", Phone: "+525512345678", Channel: analytics.SMS, CampaignID: "c", Action: analytics.DNCAdd,
		Reason: "replied \"BAJA\"", Source: "sms", At: time.UnixMilli(1700000000000).UTC(), NodeID: "n", Ver: 7}
	b, _ := e.AppendBinary(nil)
	var got analytics.DNCEvent
	if err := got.UnmarshalBinary(b); err != nil || !reflect.DeepEqual(got, e) {
		t.Fatalf("dnc event %+v %v", got, err)
	}
	for i := range b {
		if err := new(analytics.DNCEvent).UnmarshalBinary(b[:i]); err == nil {
			t.Fatalf("truncated at %d: no error", i)
		}
	}
	for _, bad := range []analytics.DNCEvent{{EventID: "x", Phone: "+1", Channel: "fax", Action: "add", At: e.At},
		{EventID: "x", Phone: "+1", Channel: analytics.Voice, Action: "maybe", At: e.At}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v validated", bad)
		}
	}
}

// The newest action per phone, channel and campaign is what LatestDNC
// returns, also when two actions fall in the same second.
func TestLatestDNC(t *testing.T) {
	ctx := context.Background()
	conn := chtest.Conn(t)
	db := chtest.Database(t, conn)
	w := writertest.Start(t, conn, db)
	at := time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC)
	events := []analytics.DNCEvent{
		{EventID: "1", Phone: "+525500000001", Channel: analytics.Voice, Action: analytics.DNCAdd, Reason: "asked", Source: "api", At: at, Ver: 1},
		{EventID: "2", Phone: "+525500000001", Channel: analytics.Voice, Action: analytics.DNCRemove, Source: "api", At: at, Ver: 2},
		{EventID: "3", Phone: "+525500000001", Channel: analytics.Voice, Action: analytics.DNCAdd, Reason: "again", Source: "ivr", At: at, Ver: 3},
		{EventID: "4", Phone: "+525500000002", Channel: analytics.SMS, CampaignID: "c1", Action: analytics.DNCAdd, Source: "sms", At: at, Ver: 4},
		{EventID: "5", Phone: "+525500000002", Channel: analytics.SMS, CampaignID: "c1", Action: analytics.DNCRemove, Source: "sms", At: at, Ver: 5},
	}
	for i := range events {
		if err := w.Write(ctx, &events[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := analytics.NewReader(conn, db)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]analytics.DNCEvent{}
	if err := r.LatestDNC(ctx, func(e analytics.DNCEvent) error {
		got[e.Phone+"/"+string(e.Channel)+"/"+e.CampaignID] = e
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d listings: %+v", len(got), got)
	}
	if e := got["+525500000001/voice/"]; e.Action != analytics.DNCAdd || e.Reason != "again" || e.Source != "ivr" || e.Ver != 3 || !e.At.Equal(at) {
		t.Errorf("voice listing: %+v", e)
	}
	if e := got["+525500000002/sms/c1"]; e.Action != analytics.DNCRemove || e.Ver != 5 {
		t.Errorf("sms listing: %+v", e)
	}
	// The caller's own failure comes back as it is, not as a failed read.
	stop := errors.New("redis is gone")
	if err := r.LatestDNC(ctx, func(analytics.DNCEvent) error { return stop }); err != stop {
		t.Fatalf("fn's error came back as %v", err)
	}
}
