package campaign

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/dialer/simcarrier"
	"github.com/marcador/marcador/ivr"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/queue"
)

// Whoever answers an outbound reminder hears nothing about the debt until
// they prove they are the debtor, shown by the prompts that reached the
// simulated phones (found sample for sample in what they received): a
// wrong party (2) hears the company's name and a number to call; one who
// keys a wrong id twice, the limited-content message. Neither hears the
// balance; their rows say wrong_party and not_verified, right_party 0, and
// their accounts stay in the queue. The debtor who keys their id's last
// four digits hears the balance and promises: answered, right_party 1, the
// promise read back; another who only listens hears the balance and days
// past due whole (the one who promises cuts them short with a key).
func TestOutboundReminderChecksTheRightParty(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	var keys sync.Map // set before any call
	line := newSimLine(t, simcarrier.Options{ByLastDigit: true,
		Ring: simcarrier.Range{Min: 50 * time.Millisecond, Max: 100 * time.Millisecond}, Talk: simcarrier.Range{Min: 40 * time.Second, Max: 40 * time.Second},
		DigitsAfter: time.Second, Proof: h.proof, DigitsFor: func(n string) string { k, _ := keys.Load(n); return k.(string) }, WrongParty: 0.34, FailsCheck: 0.33, Record: true, KeepAudio: true},
		media.PortRange{Min: 36000, Max: 36199}, 50, 5)
	sim := line.sim
	// A number for each of them, ending in 0: a person answers.
	type who struct {
		party simcarrier.Party
		keys  string
	}
	listens, promises := who{simcarrier.Debtor, ""}, who{simcarrier.Debtor, "1/1/2"}
	wrong, fails := who{simcarrier.WrongParty, ""}, who{simcarrier.FailsCheck, ""}
	numbers := map[who]string{}
	base := time.Now().UnixNano() % 1e6
	for i := 0; len(numbers) < 4; i++ {
		n := fmt.Sprintf("+5255%06d%03d0", base, i)
		for _, w := range []who{listens, promises, wrong, fails} {
			if _, ok := numbers[w]; !ok && sim.PartyFor(n) == w.party {
				numbers[w] = n
				keys.Store(n, w.keys)
				break
			}
		}
	}
	id := h.putIVRCampaign(t, ctx, func(c *queue.Campaign) {
		c.MaxConcurrent, c.CallbackNumber, c.PayURL = 4, "8005550100", "https://pay.example/{token}"
		c.Retry = queue.RetryPolicy{MaxAttempts: 3}
		c.Promise = queue.PromisePolicy{MaxDays: 15, MinPercent: 10}
	})
	accountOf := map[who]string{listens: "RP-LISTENS", promises: "RP-PROMISES", wrong: "RP-WRONG", fails: "RP-FAILS"}
	var accts []queue.Account
	for w, n := range numbers {
		accts = append(accts, queue.Account{ID: accountOf[w], NationalID: fmt.Sprintf("GOMA%d-%s", base, n[len(n)-5:len(n)-1]), Country: "MX",
			Phones: []queue.Phone{{Number: n}}, Balance: decimal.NewFromInt(10000), Currency: "MXN", DueDate: "2026-11-01", DaysPastDue: 23})
	}
	h.load(t, ctx, id, accts)
	r := New(h.runnerOptions(line, "rpc"))
	defer r.Close()
	if err := r.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	poll(t, "the four calls to be settled", func() bool {
		d, _ := h.store.Dispositions(ctx, id)
		return d[analytics.Answered]+d[analytics.WrongParty]+d[analytics.NotVerified] >= 4
	})
	if err := r.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	r.Wait()
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := sim.Settle(sctx); err != nil {
		t.Fatal(err)
	}
	det := esDetector(t)
	disclosures := append([]string{"es/p/overdue-intro", "es/p/days-past-due"}, debtDisclosures...)
	for _, call := range sim.Calls() {
		heard := det.Heard(call.Audio)
		var want []string
		told := false
		// The greeting and the question are cut short by the keys
		// (barge-in): what is heard whole comes after them.
		switch call.To {
		case numbers[wrong]:
			want = []string{"es/p/rpc-wrong-party", "es/w/ocho", "es/w/cero", "es/p/thanks"}
		case numbers[fails]:
			want = []string{"es/p/verify-no-match", "es/p/verify-failed", "es/p/limited", "es/w/ocho", "es/p/thanks"}
		case numbers[listens]:
			want, told = []string{"es/p/overdue-intro", "es/w/diez", "es/w/mil", "es/w/pesos", "es/p/overdue-days", "es/p/days-past-due", "es/p/overdue-menu"}, true
		case numbers[promises]:
			want, told = []string{"es/p/promise-ok", "es/w/diez", "es/w/mil", "es/w/pesos"}, true
		}
		for _, w := range want {
			if !slices.Contains(heard, w) {
				t.Errorf("%s (%s) did not hear %s; heard %v", call.Party, call.To, w, heard)
			}
		}
		for _, d := range disclosures {
			if !told && slices.Contains(heard, d) {
				t.Errorf("%s (%s) heard %s: the debt disclosed to a third party; heard %v", call.Party, call.To, d, heard)
			}
		}
	}
	if n := len(sim.Calls()); n != 4 {
		t.Fatalf("%d calls answered, want 4", n)
	}
	if err := h.w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for w, want := range map[who]struct {
		disp  string
		right uint8
	}{listens: {analytics.Answered, 1}, promises: {analytics.Answered, 1}, wrong: {analytics.WrongParty, 0}, fails: {analytics.NotVerified, 0}} {
		var disp, reason string
		var right uint8
		if err := h.conn.QueryRow(ctx, "SELECT disposition, right_party, reason FROM "+h.db+".contact_attempts FINAL WHERE campaign_id = ? AND account_id = ?",
			id, accountOf[w]).Scan(&disp, &right, &reason); err != nil {
			t.Fatal(err)
		}
		if disp != want.disp || right != want.right {
			t.Errorf("%s: row %s right_party %d (%s), want %s %d", accountOf[w], disp, right, reason, want.disp, want.right)
		}
	}
	// The caps' history: a conversation for the debtor who proved it only,
	// exactly where the row's rule says (analytics.Spoke, by which
	// `marcador redis restore` rebuilds it).
	for _, a := range accts {
		var disp string
		var keyed uint8
		if err := h.conn.QueryRow(ctx, "SELECT disposition, ivr_path != '' AND dtmf != '' FROM "+h.db+".contact_attempts FINAL WHERE campaign_id = ? AND account_id = ?",
			id, a.ID).Scan(&disp, &keyed); err != nil {
			t.Fatal(err)
		}
		conversations := h.conversations(t, a)
		restored := analytics.Spoke(analytics.Voice, disp, keyed == 1)
		if (conversations == 1) != restored || conversations > 1 || (restored && disp != analytics.Answered) {
			t.Errorf("%s (%s, keyed %d): %d conversations recorded live, the row's rule says %v", a.ID, disp, keyed, conversations, restored)
		}
		if a.ID == accountOf[promises] && conversations != 1 {
			t.Errorf("the debtor who promised: %d conversations", conversations)
		}
	}
	var promised string
	if err := h.conn.QueryRow(ctx, "SELECT toString(sum(amount)) FROM "+h.db+".promises FINAL WHERE campaign_id = ? AND account_id = ?",
		id, accountOf[promises]).Scan(&promised); err != nil || promised != "10000.00" {
		t.Errorf("the debtor's promise: %q %v", promised, err)
	}
	// Nobody was reached but the debtor: the others are tried again.
	if n, _ := h.store.Counts(ctx, id, time.Now()); n.Done != 2 || n.Due != 2 {
		t.Errorf("queue afterwards %+v, want the debtors done and the others due again", n)
	}
}

// A right-party check that did not verify whoever answered decides the
// row, also when the script failed afterwards: the row says who answered
// (with the error after the reason), never ivr_error, so neither the caps
// (live or restored) nor a fallback text take it for the debtor.
func TestIdentifiedDecidesAFailedScriptsRow(t *testing.T) {
	res := ivr.Result{Checked: true, Path: []string{"rpc-greeting", "verify"}, DTMF: "9", End: "error"}
	for _, tc := range []struct {
		res  ivr.Result
		disp string
		want string
	}{
		{res, analytics.IVRError, analytics.NotVerified},
		{func() ivr.Result { r := res; r.WrongParty = true; return r }(), analytics.IVRError, analytics.WrongParty},
		{res, analytics.Answered, analytics.NotVerified},
		{func() ivr.Result { r := res; r.Verified = true; return r }(), analytics.IVRError, analytics.IVRError},
		{func() ivr.Result { r := res; r.Checked = false; return r }(), analytics.IVRError, analytics.IVRError},
	} {
		a := analytics.Attempt{Channel: analytics.Voice, Disposition: tc.disp, Reason: "no prompt p/x"}
		if tc.disp == analytics.Answered {
			a.Reason = ""
		}
		identified(&a, tc.res)
		if a.Disposition != tc.want {
			t.Errorf("%s, checked %v verified %v wrong party %v: %s, want %s", tc.disp, tc.res.Checked, tc.res.Verified, tc.res.WrongParty, a.Disposition, tc.want)
		}
		if tc.disp == analytics.IVRError && tc.want != analytics.IVRError && !strings.HasSuffix(a.Reason, "; then the script failed: no prompt p/x") {
			t.Errorf("reason %q", a.Reason)
		}
		if got, want := spoke(a, tc.res), tc.want == analytics.IVRError && (tc.res.Verified || !tc.res.Checked); got != want {
			t.Errorf("%s → %s: spoke %v, want %v", tc.disp, a.Disposition, got, want)
		}
	}
}
