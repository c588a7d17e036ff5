package sms_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/polltest"
	"github.com/marcador/marcador/queue/redistest"
	"github.com/marcador/marcador/sms"
	"github.com/marcador/marcador/sms/twilio"
	"github.com/marcador/marcador/sms/twiliotest"
)

// logBuffer keeps a logger's JSON lines; the sender logs from more than one
// goroutine.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// records returns the logged records whose message starts with prefix.
func (l *logBuffer) records(t *testing.T, prefix string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if msg, _ := r["msg"].(string); strings.HasPrefix(msg, prefix) {
			out = append(out, r)
		}
	}
	return out
}

// A send that sets its template mark and then sends nothing (the gate
// refuses, the provider refuses) undoes the mark, or the template would
// skip the debtor for the whole period. When Redis refuses to undo it, the
// outcome stands as before and the failure is logged with the request it
// belongs to. The texting state lives on a Redis of its own whose user may
// not DEL, which is how the undo fails.
func TestTemplateMarkNotUndoneIsLogged(t *testing.T) {
	h := newHarness(t, "CL")
	ctx := context.Background()
	srv := redistest.StartServer(t)
	rdb := srv.Client()
	if err := rdb.Do(ctx, "ACL", "SETUSER", "default", "-del").Err(); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	opt := h.opt
	opt.Store = sms.NewStore(sms.StoreOptions{Client: rdb})
	opt.PublicURL = "" // no status callbacks: h.sender's hooks know nothing of this store
	opt.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	sender := sms.NewSender(opt)

	base := time.Now().UnixNano() % 1e7
	refused, invalid := fmt.Sprintf("+569%07d1", base), fmt.Sprintf("+569%07d2", base)
	h.account(t, "MK-1", refused)
	h.account(t, "MK-2", invalid)
	h.twilio.SetOutcome(invalid, twiliotest.Outcome{CreateError: 21211})
	send := func(key, acct, tpl string) sms.Result {
		t.Helper()
		res, err := sender.Send(ctx, sms.Request{Key: h.camp + "/" + key, Campaign: h.camp, Account: acct, Template: tpl})
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		return res
	}
	if r := send("mk-1", "MK-1", "missed-call"); r.Outcome != sms.Sent {
		t.Fatalf("first text: %+v", r)
	}
	// Chile: a second text within two days is refused and deferred.
	gateRefused := send("mk-2", "MK-1", "payment-link")
	if gateRefused.Outcome != sms.Blocked || gateRefused.Deferred.IsZero() {
		t.Fatalf("second text within 2 days: %+v", gateRefused)
	}
	providerRefused := send("mk-3", "MK-2", "payment-link")
	if providerRefused.Outcome != sms.Failed || !strings.Contains(providerRefused.Reason, "21211") {
		t.Fatalf("text to an invalid number: %+v", providerRefused)
	}

	got := logs.records(t, "sms: template mark not undone")
	if len(got) != 2 {
		t.Fatalf("%d records of a mark not undone, want 2 (gate refusal, provider refusal): %v", len(got), got)
	}
	for i, want := range []struct{ key, account string }{{h.camp + "/mk-2", "MK-1"}, {h.camp + "/mk-3", "MK-2"}} {
		r := got[i]
		if r["level"] != "ERROR" || r["key"] != want.key || r["campaign"] != h.camp || r["account"] != want.account ||
			r["template"] != "payment-link" || !strings.Contains(fmt.Sprint(r["err"]), "NOPERM") {
			t.Errorf("record %d: %v, want key %s account %s template payment-link and the NOPERM error", i, r, want.key, want.account)
		}
	}
}

// An outbox item that cannot be removed once it is finished (here: an
// unreadable one, dropped) is logged with the item; it comes due again when
// its lease ends. The outbox lives on a Redis of its own whose user may not
// ZREM, which is how the removal fails.
func TestOutboxItemNotRemovedIsLogged(t *testing.T) {
	h := newHarness(t, "MX")
	ctx := context.Background()
	srv := redistest.StartServer(t)
	rdb := srv.Client()
	if err := rdb.Do(ctx, "ACL", "SETUSER", "default", "-zrem").Err(); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	opt := h.opt
	opt.Store = sms.NewStore(sms.StoreOptions{Client: rdb})
	opt.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	sender := sms.NewSender(opt)
	const item = "not a request"
	if err := opt.Store.OutboxAdd(ctx, []byte(item), h.clock.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- sender.Run(rctx) }()
	defer func() { cancel(); <-done }()
	var got []map[string]any
	if !polltest.Until(10*time.Second, func() bool { got = logs.records(t, "sms: outbox item not removed"); return len(got) > 0 }) {
		t.Fatalf("no record of the item not removed; logged: %v", logs.records(t, ""))
	}
	if r := got[0]; r["level"] != "WARN" || r["item"] != item || !strings.Contains(fmt.Sprint(r["err"]), "NOPERM") {
		t.Fatalf("record %v, want the item and the NOPERM error", r)
	}
	if n, err := opt.Store.OutboxDue(ctx, h.clock.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("outbox holds %d items (%v), want the one not removed", n, err)
	}
}

// A delivered text counts as a contact for the compliance caps, for the
// subject its send record keeps. A record whose subject cannot be read
// still gets its status applied, and the contact not counted is logged
// with the message.
func TestUnreadableSubjectIsLogged(t *testing.T) {
	h := newHarness(t, "MX")
	ctx := context.Background()
	logs := &logBuffer{}
	opt := h.opt
	opt.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	sender := sms.NewSender(opt)
	hooks := httptest.NewServer(sender.StatusHandler(twilio.NewValidator(token, "http://hooks.test")))
	defer hooks.Close()

	now := time.Now()
	msid := fmt.Sprintf("SM%032x", now.UnixNano())
	key := h.camp + "/unreadable-subject"
	a := analytics.Attempt{AttemptID: sms.AttemptID(key), CampaignID: h.camp, AccountID: "US-1", Phone: "+525500000000",
		Channel: analytics.SMS, NodeID: "smstest", StartedAt: now, Disposition: analytics.Sent, MessageSID: msid, Ver: 1}
	row, err := a.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := sms.SendRecord{State: sms.Sent, SID: msid, Attempt: row, Subject: []byte(`{"phone":`), Rank: sms.StatusRank("sent"), Ver: 1}
	if _, err := h.texts.SaveSend(ctx, key, rec, time.Minute); err != nil {
		t.Fatal(err)
	}
	form := url.Values{"MessageSid": {msid}, "MessageStatus": {"delivered"}, "AccountSid": {sid}}
	req, _ := http.NewRequest("POST", hooks.URL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twiliotest.Sign(token, "http://hooks.test/", form))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delivered callback: %d", resp.StatusCode)
	}
	if d, st, _, ver, _ := h.row(t, a.AttemptID); d != analytics.Delivered || st != "delivered" || ver != 2 {
		t.Fatalf("row: %s %s ver %d, want delivered ver 2", d, st, ver)
	}
	got := logs.records(t, "sms: delivered text not counted")
	if len(got) != 1 || got[0]["level"] != "ERROR" || got[0]["sid"] != msid || got[0]["attempt"] != a.AttemptID || got[0]["err"] == nil {
		t.Fatalf("records %v, want one naming %s and attempt %s with the error", got, msid, a.AttemptID)
	}
}
