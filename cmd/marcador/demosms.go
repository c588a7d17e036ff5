package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/marcador/marcador/cmd/marcador/internal/config"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
	"github.com/marcador/marcador/sms"
	"github.com/marcador/marcador/sms/twiliotest"
)

// demoTexting is the demo's SMS side: a local Twilio-compatible server
// stands in for Twilio, and a loopback HTTP server takes its signed status
// callbacks and replies at /webhooks/twilio/, as `serve` does.
type demoTexting struct {
	twilio *twiliotest.Server
	sender *sms.Sender
	hooks  *http.Server
	url    string
	stop   context.CancelFunc
	done   chan error
	from   string
}

func startDemoTexting(cfg config.Config, store *queue.Store, gate *compliance.Gate, w sms.Writer, log *slog.Logger) (*demoTexting, error) {
	const sid, token, from = "AC0d3e0d3e0d3e0d3e0d3e0d3e0d3e0d3e", "demo0d3e0d3e0d3e0d3e0d3e0d3e0d3e", "+15005550006"
	fake, err := twiliotest.Start(twiliotest.Options{AccountSID: sid, AuthToken: token, Numbers: []string{from}, Logger: log})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fake.Close()
		return nil, err
	}
	d := &demoTexting{twilio: fake, url: "http://" + ln.Addr().String(), from: from}
	cfg.Twilio = config.Twilio{AccountSID: sid, AuthToken: token, From: from, PublicURL: d.url, APIURL: fake.URL()}
	cfg.SMS.Rate = 20 // the local server takes more than a real long code
	sender, verifier, err := newSender(cfg, store, gate, w, nil, log, time.Now)
	if err != nil {
		fake.Close()
		ln.Close()
		return nil, err
	}
	d.sender = sender
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/twilio/status", sender.StatusHandler(verifier))
	mux.Handle("POST /webhooks/twilio/inbound", sender.InboundHandler(verifier))
	d.hooks = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go d.hooks.Serve(ln)
	ctx, cancel := context.WithCancel(context.Background())
	d.stop, d.done = cancel, make(chan error, 1)
	go func() { d.done <- sender.Run(ctx) }()
	return d, nil
}

func (d *demoTexting) Close() {
	d.stop()
	<-d.done
	d.twilio.Close()
	d.hooks.Close()
}

// settle waits until nothing in the outbox is due, every message has had
// its final status callback, and that holds for half a second (a text
// being sent is out of the outbox but not yet at the server).
func (d *demoTexting) settle(ctx context.Context, store *queue.Store) {
	deadline := time.Now().Add(30 * time.Second)
	stable := 0
	for time.Now().Before(deadline) && stable < 5 {
		due, _ := store.OutboxDue(ctx, time.Now())
		final, sent := 0, 0
		for _, cb := range d.twilio.Callbacks() {
			if cb.Status != "sent" {
				final++
			}
		}
		for _, m := range d.twilio.Messages() {
			if m.Direction == "outbound-api" {
				sent++
			}
		}
		if due == 0 && final == sent {
			stable++
		} else {
			stable = 0
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// demoTexts tells what the fallback texts did and has two debtors reply.
func demoTexts(ctx context.Context, w io.Writer, d *demoTexting, store *queue.Store, conn driver.Conn, db, campaignID string, since time.Time) error {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	d.settle(ctx, store)
	msgs := d.twilio.Messages()
	var texted []twiliotest.Message
	for _, m := range msgs {
		if m.Direction == "outbound-api" {
			texted = append(texted, m)
		}
	}
	p("\n   Unanswered calls fall back to SMS (sms.fallback: after no_answer or busy, template missed-call), through the gate,\n")
	p("   sent with twilio-go to a local Twilio-compatible server at %s; its signed status callbacks reach %s/webhooks/twilio/status\n",
		d.twilio.URL(), d.url)
	if len(texted) == 0 {
		p("   (no call went unanswered this run)\n")
		return nil
	}
	ex := texted[0]
	enc, segs := sms.Segments(ex.Body)
	p("   e.g. to %s (%s, %d segments):\n      %q\n", ex.To, enc, segs, ex.Body)
	if enc == sms.UCS2 {
		tenc, tsegs := sms.Segments(sms.Transliterate(ex.Body))
		p("   with the campaign option sms.transliterate it would go as %s in %d segments (á→a; é, ñ, ¿ stay)\n", tenc, tsegs)
	}
	if err := demoReplies(ctx, w, d, texted); err != nil {
		return err
	}
	return printTexts(ctx, w, conn, db, campaignID, since)
}

// demoReplies has two texted debtors answer: one BAJA (opted out and
// confirmed), one PAGO (the payment link comes back).
func demoReplies(ctx context.Context, w io.Writer, d *demoTexting, texted []twiliotest.Message) error {
	hook := d.url + "/webhooks/twilio/inbound"
	for i, body := range []string{"Baja", "PAGO", "ya pagué en la sucursal"} {
		if i >= len(texted) {
			break
		}
		to := texted[len(texted)-1-i].To
		replies, status, err := d.twilio.Inbound(hook, to, d.from, body)
		if err != nil {
			return err
		}
		reply := "(no reply: kept as a conversation message for agents)"
		if len(replies) > 0 {
			reply = fmt.Sprintf("%q", replies[0])
		}
		fmt.Fprintf(w, "   %s replies %q → HTTP %d, %s\n", to, body, status, reply)
	}
	return nil
}

// printTexts reads this run's messages back from ClickHouse.
func printTexts(ctx context.Context, w io.Writer, conn driver.Conn, db, campaign string, since time.Time) error {
	rows, err := conn.Query(ctx, "SELECT disposition, count(), sum(segments), any(reason) FROM "+db+
		".contact_attempts FINAL WHERE campaign_id = ? AND channel IN ('sms', 'whatsapp') AND started_at BETWEEN ? AND now() + 1 "+
		"GROUP BY disposition ORDER BY count() DESC", campaign, since)
	if err != nil {
		return fmt.Errorf("texts: %w", err)
	}
	defer rows.Close()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "   text attempts (contact_attempts, channel sms)\tcount\tsegments\texample reason\n")
	for rows.Next() {
		var disp, reason string
		var n, segs uint64
		if err := rows.Scan(&disp, &n, &segs, &reason); err != nil {
			return err
		}
		if len(reason) > 80 {
			reason = reason[:77] + "..."
		}
		fmt.Fprintf(tw, "   %s\t%d\t%d\t%s\n", disp, n, segs, strings.TrimSpace(reason))
	}
	tw.Flush()
	return rows.Err()
}

// printTextSummary is the closing summary's line on texting.
func printTextSummary(ctx context.Context, w io.Writer, conn driver.Conn, db, campaign string, since time.Time) error {
	var sent, delivered, blocked, failed uint64
	err := conn.QueryRow(ctx, "SELECT countIf(message_sid != ''), countIf(message_status = 'delivered'), countIf(disposition = 'blocked'), "+
		"countIf(disposition IN ('failed', 'undelivered', 'invalid_number', 'opted_out')) FROM "+db+
		".contact_attempts FINAL WHERE campaign_id = ? AND channel IN ('sms', 'whatsapp') AND started_at BETWEEN ? AND now() + 1",
		campaign, since).Scan(&sent, &delivered, &blocked, &failed)
	if err != nil {
		return fmt.Errorf("text summary: %w", err)
	}
	var optouts, links, convs uint64
	err = conn.QueryRow(ctx, "SELECT countIf(action = 'optout'), countIf(action = 'paylink'), countIf(action = 'conversation') FROM "+db+
		".messages FINAL WHERE direction = 'inbound' AND at BETWEEN ? AND now() + 1", since).Scan(&optouts, &links, &convs)
	if err != nil {
		return fmt.Errorf("replies summary: %w", err)
	}
	fmt.Fprintf(w, "   SMS sent: %d, delivered: %d, blocked by the gate: %d, failed: %d; replies: %d opt-out, %d payment link, %d for agents\n",
		sent, delivered, blocked, failed, optouts, links, convs)
	return nil
}
