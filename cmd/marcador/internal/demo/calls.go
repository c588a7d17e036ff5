package demo

import (
	"context"
	"fmt"
	"hash/fnv"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/cmd/marcador/internal/app"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/simcarrier"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
	"github.com/marcador/marcador/queue/promise"
	"github.com/marcador/marcador/sms"
)

// demoDebtor is what a simulated debtor who answers does once they have
// proved who they are (demoParty says who answers), by number: most
// promise (the full balance in a week, or an amount of their own today),
// some ask for the payment link, a few opt out, some only listen.
func demoDebtor(number string) string {
	if number == transferNumber {
		return "3" // an advisor, please (the agents' step)
	}
	h := fnv.New32a()
	h.Write([]byte(number))
	switch h.Sum32() % 10 {
	case 0, 1, 2:
		return "1/1/2" // promise / full balance / in a week
	case 3, 4: // promise / another amount, in the local currency's scale / today
		switch {
		case strings.HasPrefix(number, "+57"):
			return "1/2/400000#/1"
		case strings.HasPrefix(number, "+56"):
			return "1/2/300000#/1"
		}
		return "1/2/3000#/1"
	case 5:
		return "1/1/3/0812" // promise / full balance / on a date: 8 December
	case 6, 7:
		return "2" // the payment link by SMS
	case 8:
		return "9" // stop calling me
	}

	return "" // listens and hangs up
}

// demoParty is who answers a person's phone: the debtor mostly; a
// relative or a wrong number (15%), who presses 2 at the reminder's
// right-party check; someone who claims to be the debtor and keys a wrong
// birth date (5%). The advisor's caller is the debtor.
func demoParty(number string) simcarrier.Party {
	if number == transferNumber {
		return simcarrier.Debtor
	}
	h := fnv.New32a()
	h.Write([]byte("party " + number))
	switch x := h.Sum32() % 20; {
	case x < 3:
		return simcarrier.WrongParty
	case x == 3:
		return simcarrier.FailsCheck
	}
	return simcarrier.Debtor
}

// campaignRun is step 5: the overdue campaign, run by the same runner
// `serve` uses, calls over SIP/RTP through the compliance gate; then its
// texts, a debtor calling back, two payments, and the attempts read back.
func (r *run) campaignRun(ctx context.Context) error {
	c := demoCampaigns()[1]
	r.p("\n5. An IVR reminder campaign calls over SIP/RTP, through the compliance gate\n")
	r.p("   compliance clock: %s (simulated business hours; profile auto = each debtor's country: MX, CO, CL)\n",
		r.gateNow().In(mustZone("America/Mexico_City")).Format("Mon 2006-01-02 15:04 MST"))
	if err := r.listOptOuts(ctx, c, 2); err != nil {
		return err
	}
	if err := r.dial(ctx, c); err != nil {
		return err
	}
	if err := r.texts(ctx, c.ID); err != nil {
		return err
	}
	if err := r.callBack(ctx, c); err != nil {
		return err
	}
	if err := r.pay(ctx, c.ID); err != nil {
		return err
	}
	if err := r.flush(ctx, "rows"); err != nil {
		return err
	}
	r.p("\n   attempts, read back from ClickHouse:\n")
	if err := r.printAttempts(ctx, c.ID); err != nil {
		return err
	}
	return r.printCampaign(ctx, c.ID)
}

// dial starts the campaign, lets it try about Options.Calls contacts,
// pauses it and waits for the calls in progress.
func (r *run) dial(ctx context.Context, c queue.Campaign) error {
	store, runner := r.app.Store, r.app.Runner
	r.p("   carrier simulator on %s: the number's last digit decides (0-3 a person, 4-5 voicemail, 6 busy, 7 no answer, 8 invalid, 9 network error);\n", r.sim.Addr())
	r.p("   whoever answers hears only the company's name until they prove they are the debtor (1, then their birth date):\n" +
		"   1 in 5 is a relative or a wrong number (presses 2, or keys a wrong date) and hears a number to call, nothing about a debt;\n" +
		"   a debtor who proves it hears the balance and promises, asks for the payment link, opts out or just listens\n")
	r.p("   POST /api/v1/campaigns/%s/start: script %s, up to %d calls at once, trunk %q at 20 CPS\n", c.ID, c.Script, c.MaxConcurrent, c.Trunk)
	r.callsStart = time.Now()
	if err := runner.Start(ctx, c.ID); err != nil {
		return err
	}
	for {
		d, err := store.Dispositions(ctx, c.ID)
		if err != nil {
			return err
		}
		inflight, _ := store.InFlightCount(ctx, c.ID)
		var tried int64
		for _, v := range d {
			tried += v
		}
		if tried+inflight >= int64(r.opt.Calls) || time.Since(r.callsStart) > 2*time.Minute {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := runner.Pause(ctx, c.ID); err != nil {
		return err
	}
	r.p("   POST /api/v1/campaigns/%s/pause after %d contacts: no new calls; the calls in progress finish...\n", c.ID, r.opt.Calls)
	runner.Wait()
	if err := r.flush(ctx, "attempts"); err != nil {
		return err
	}
	st := r.sim.Stats()
	r.p("   done in %s; the simulator saw %d calls (%d answered)\n", time.Since(r.callsStart).Round(time.Second), st.Offered, st.Answered)
	// The simulated debtors listen: each key waits for the IVR to speak.
	hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	people, err := r.sim.CheckHeard(hctx, time.Second)
	if err != nil {
		return fmt.Errorf("the IVR did not speak to the debtors: %w", err)
	}
	r.p("   all %d people who answered heard the IVR speak before their first key\n", people)
	return nil
}

// flush waits until what the parts wrote is in ClickHouse.
func (r *run) flush(ctx context.Context, what string) error {
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := r.app.Writer.Flush(fctx); err != nil {
		return fmt.Errorf("%s not in ClickHouse: %w", what, err)
	}
	return nil
}

// listOptOuts starts the campaign's debtors' compliance history and
// listings afresh (so every run tells the same story), queues them in turn
// by country (so the first calls reach MX, CO and CL alike) and lists k
// debtors who asked not to be called, as the DNC API would.
func (r *run) listOptOuts(ctx context.Context, c queue.Campaign, k int) error {
	leases, err := r.app.Store.Claim(ctx, c.ID, 1000, time.Now())
	if err != nil {
		return err
	}
	base := time.Now().Add(-time.Minute)
	// Each debtor is reset on its own (a dozen round trips): sixteen at a
	// time, or a loaded machine spends a minute here before any call.
	var (
		wg    sync.WaitGroup
		sem   = make(chan struct{}, 16)
		errMu sync.Mutex
		first error
	)
	debtors := map[string]bool{}
	for _, l := range leases {
		debtors[sms.Debtor(c.ID, l.Account)] = true
	}
	if err := r.app.Texts.ForgetTemplatesOf(ctx, debtors); err != nil {
		return err
	}
	for i, l := range byCountry(leases) {
		dnc := (i == 3 || i == 11) && i/8 < k // the 1st and 2nd to list, as k allows
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := r.resetDebtor(ctx, c, l, dnc, base.Add(time.Duration(i)*time.Millisecond)); err != nil {
				errMu.Lock()
				if first == nil {
					first = err
				}
				errMu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}

// resetDebtor forgets one debtor's history and listings, lists
// it when dnc, and queues it again at at.
func (r *run) resetDebtor(ctx context.Context, c queue.Campaign, l queue.Lease, dnc bool, at time.Time) error {
	store, gate := r.app.Store, r.app.Gate
	a := l.Account
	if err := gate.Forget(ctx, compliance.Subject{Phone: a.Phones[0].Number, Account: a.ID, NationalID: a.NationalID, Country: a.Country}); err != nil {
		return err
	}
	for _, ph := range a.Phones {
		if err := unlist(ctx, gate, ph.Number, c.ID); err != nil {
			return err
		}
	}
	if dnc {
		for _, ph := range a.Phones {
			if err := gate.AddDNC(ctx, compliance.DNCEntry{Phone: ph.Number, Channel: "voice", Campaign: c.ID,
				Reason: "asked not to be called", Source: "demo"}); err != nil {
				return err
			}
		}
	}
	return store.Reschedule(ctx, l, at, "demo: ready")
}

// byCountry orders leases taking one of each country in turn.
func byCountry(leases []queue.Lease) []queue.Lease {
	by := map[string][]queue.Lease{}
	var countries []string
	for _, l := range leases {
		if by[l.Account.Country] == nil {
			countries = append(countries, l.Account.Country)
		}
		by[l.Account.Country] = append(by[l.Account.Country], l)
	}
	sort.Strings(countries)
	var order []queue.Lease
	for i := 0; len(order) < len(leases); i++ {
		for _, cc := range countries {
			if i < len(by[cc]) {
				order = append(order, by[cc][i])
			}
		}
	}
	return order
}

// unlist takes phone off the global and campaign's do-not-contact lists
// that hold it, each removal recorded in dnc_events as the API's would be;
// a number listed nowhere writes nothing.
func unlist(ctx context.Context, gate *compliance.Gate, phone, campaign string) error {
	for _, ch := range analytics.Channels() {
		for _, scope := range []string{"", campaign} {
			listed, err := gate.ListedIn(ctx, phone, ch, scope)
			if err != nil {
				return err
			}
			if !listed {
				continue
			}
			if err := gate.RemoveDNC(ctx, compliance.DNCEntry{Phone: phone, Channel: string(ch), Campaign: scope,
				Reason: "demo: a fresh run", Source: "demo"}); err != nil {
				return err
			}
		}
	}
	return nil
}

// callBack has a debtor who missed our call ring the callback line from
// their phone (a SIP phone on loopback sending RFC 4733 keys): the caller id
// alone proves nothing, so they key their date of birth, then hear the
// balance and promise the full amount in a week.
func (r *run) callBack(ctx context.Context, c queue.Campaign) error {
	missed, err := r.read.Attempts(ctx, analytics.Scope{Campaigns: []string{c.ID}, From: r.since()})
	if err != nil {
		return fmt.Errorf("callback call: %w", err)
	}
	i := slices.IndexFunc(missed, func(a analytics.Attempt) bool {
		return (a.Disposition == analytics.NoAnswer || a.Disposition == analytics.Busy) && a.Country == "MX"
	})
	if i < 0 {
		r.p("   (no unanswered MX debtor to call back this run)\n")
		return nil
	}
	phone, acct := missed[i].Phone, missed[i].AccountID
	a, err := r.app.Store.Account(ctx, c.ID, acct)
	if err != nil {
		return fmt.Errorf("callback call: %w", err)
	}
	born, err := time.Parse(queue.DateLayout, a.BirthDate)
	if err != nil {
		r.p("   (%s has no date of birth on file to prove who they are)\n", acct)
		return nil
	}
	// The debtor's phone: a SIP endpoint of its own on this host.
	host, _, _ := net.SplitHostPort(r.opt.Config.SIP.Listen)
	phoneApp, err := app.New(ctx, app.Options{Config: r.opt.Config, Parts: app.Endpoint, Logger: r.opt.Logger, Version: r.opt.Version,
		SIPListen: net.JoinHostPort(host, "0")})
	if err != nil {
		return err
	}
	defer phoneApp.Close()
	handset := phoneApp.Endpoint
	tr, err := dialer.NewTrunk(dialer.TrunkConfig{Name: "handset", URI: "sip:" + r.app.Endpoint.Addr(), CPS: 1, MaxChannels: 1})
	if err != nil {
		return err
	}
	r.p("\n   %s (%s) missed our call and calls the callback line %s back; keys their date of birth (the caller id proves nothing),\n"+
		"   then 1 (promise), 1 (full balance), 2 (in a week)\n", acct, phone, demoCallbackLine)
	leg, err := handset.Dial(ctx, dialer.DialRequest{Trunk: tr, To: demoCallbackLine, CallerID: phone})
	if err != nil {
		return fmt.Errorf("callback call: %w", err)
	}
	for _, k := range []string{born.Format("02012006"), "1", "1", "2"} {
		select {
		case <-leg.Ended():
		case <-time.After(2500 * time.Millisecond):
			leg.Session().SendDigits(k)
		}
	}
	select {
	case <-leg.Ended():
	case <-time.After(60 * time.Second):
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		leg.Hangup(hctx)
		cancel()
	}
	return nil
}

// pay pays two of this run's promises through the same code as POST
// /api/v1/payments, so the summary shows promises kept. A payment goes to
// the debtor's oldest open promise first (README "Promise kept"), and an
// earlier run may have left one open for the same debtor: each pays what
// the debtor owes on its open promises in that currency, so this run's is
// kept too (paying only its amount kept the older one, and the summary of
// this run's days showed none kept).
func (r *run) pay(ctx context.Context, campaignID string) error {
	ps, err := r.read.Promises(ctx, analytics.Scope{Campaigns: []string{campaignID}, From: r.since()})
	if err != nil {
		return fmt.Errorf("promises to pay: %w", err)
	}
	for _, p := range ps[:min(2, len(ps))] {
		open, err := r.app.Promises.Open(ctx, p.AccountID)
		if err != nil {
			return err
		}
		owed := decimal.Zero
		for _, o := range open {
			if o.Currency == p.Currency {
				owed = owed.Add(o.Amount.Sub(o.Paid))
			}
		}
		owed = decimal.Max(owed, p.Amount)
		res, err := r.app.Promises.RecordPayment(ctx, promise.Payment{ID: fmt.Sprintf("demo-%s-%d", p.AccountID, r.since().Unix()),
			Campaign: campaignID, Account: p.AccountID, Amount: owed, Currency: p.Currency, Method: "link"})
		if err != nil {
			return err
		}
		r.p("   POST /api/v1/payments: %s paid %s %s through the payment link; promises kept: %d\n", p.AccountID,
			owed.StringFixed(2), p.Currency, len(res.Kept))
	}
	return nil
}
