package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/spool"
	"github.com/marcador/marcador/cmd/marcador/internal/app"
	"github.com/marcador/marcador/cmd/marcador/internal/config"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/campaign"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/ivr/prompts"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/contact"
)

// callJSON is what `marcador call -json` prints.
type callJSON struct {
	AttemptID   string `json:"attempt_id"`
	Disposition string `json:"disposition"`
	SIPCode     int    `json:"sip_code"`
	RingMS      uint32 `json:"ring_ms"`
	TalkMS      uint32 `json:"talk_ms"`
	DTMF        string `json:"dtmf"`
	Reason      string `json:"reason,omitempty"`
	// With -script: the nodes the call went through, and the promise made.
	Script  string       `json:"script,omitempty"`
	IVRPath string       `json:"ivr_path,omitempty"`
	Promise *promiseJSON `json:"promise,omitempty"`
	SMS     []string     `json:"sms,omitempty"`
	OptOut  bool         `json:"opted_out,omitempty"`
	// Spooled is true when ClickHouse did not take the row in time: it waits
	// in the spool and is delivered by the next `marcador call`.
	Spooled bool `json:"spooled,omitempty"`
}

type promiseJSON struct {
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
	Date     string `json:"date"`
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runCall(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("call", "call -config FILE -trunk NAME -to NUMBER|SIP-URI [-caller-id E164] [-prompt FILE]... [-digits N] [-timeout D] [-json]\n"+
		"       call -config FILE -script NAME -campaign ID -account ID [-to NUMBER] [-trunk NAME] [-no-gate] [-json]", stderr)
	cfgPath := fs.String("config", "", "YAML config file")
	trunkName := fs.String("trunk", "", "trunk to call through (from the config's trunks:)")
	to := fs.String("to", "", "E.164 number (+525512345678) or SIP URI (sip:user@host:port)")
	callerID := fs.String("caller-id", "", "E.164 number the call comes from (default the trunk's caller_id; a call without one is refused; with -script the campaign's or trunk's is used)")
	var promptFiles stringList
	fs.Var(&promptFiles, "prompt", "WAV file (or a shipped prompt: es/reminder, en/reminder, es/goodbye, en/goodbye) to play on answer; repeat for several, played in order (a digit stops playback)")
	digits := fs.Int("digits", 0, "collect up to N digits (# ends early)")
	timeout := fs.Duration("timeout", 10*time.Second, "wait this long for the first digit after the prompts, then 3s between digits")
	ring := fs.Duration("ring", dialer.DefaultRingTimeout, "ring timeout (at least 15s)")
	listen := fs.String("listen", "", "SIP address to call from (default: sip.listen's IP, any free port)")
	campaignID := fs.String("campaign", "test-call", "campaign id recorded on the attempt (with -script: the account's campaign)")
	account := fs.String("account", "", "account id recorded on the attempt (with -script: the account whose data the script speaks)")
	scriptName := fs.String("script", "", "run this IVR script (shipped or from ivr.scripts_dir) on answer, for -account of -campaign")
	noGate := fs.Bool("no-gate", false, "with -script: dial without asking the compliance gate (a lab number; the attempt is still recorded)")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *scriptName != "" && (*account == "" || *campaignID == "test-call") {
		fs.Usage()
		return errors.New("-script needs -campaign and -account")
	}
	if *scriptName == "" && (*trunkName == "" || *to == "") {
		fs.Usage()
		return errors.New("-trunk and -to are required")
	}
	if *digits < 0 || *digits > 32 {
		return fmt.Errorf("-digits %d: want 0-32", *digits)
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	log := app.NewLogger(cfg.Log, stderr)
	plan, err := planCall(cfg, *trunkName, *to, *callerID, promptFiles, *scriptName != "")
	if err != nil {
		return err
	}
	plan.Digits, plan.DigitTimeout, plan.RingTimeout = *digits, *timeout, *ring
	node, err := callApp(ctx, cfg, *scriptName != "", *listen, log)
	if err != nil {
		return err
	}
	defer node.Close()
	w := node.Writer

	var a analytics.Attempt
	var res callJSON
	if *scriptName != "" {
		a, res, err = scriptCall(ctx, node.Runner, log, campaign.CallRequest{Campaign: *campaignID, Account: *account, Script: *scriptName,
			To: *to, Trunk: *trunkName, SkipGate: *noGate})
		if err != nil {
			return err
		}
	} else if a, err = plainCall(ctx, node, plan, *campaignID, *account, *to); err != nil {
		return err
	}
	res.AttemptID, res.Disposition, res.SIPCode, res.RingMS, res.TalkMS, res.DTMF, res.Reason =
		a.AttemptID, a.Disposition, int(a.SIPCode), a.RingMS, a.TalkMS, a.DTMF, a.Reason
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := w.Flush(fctx); err != nil {
		res.Spooled = true
		log.Warn("attempt not yet in ClickHouse; it stays spooled for the next marcador call",
			"attempt_id", a.AttemptID, "spool", filepath.Join(cfg.Spool.Dir, "call"), "err", err)
	}
	return writeCall(stdout, res, *asJSON)
}

// plainCall places the call plan says (prompts, digits, no script) and
// records its attempt.
func plainCall(ctx context.Context, node *app.App, plan callPlan, campaignID, account, to string) (analytics.Attempt, error) {
	a := contact.Builder{Node: node.Config.NodeID, Now: time.Now}.Start(queue.Campaign{ID: campaignID}, queue.Account{ID: account}, to,
		analytics.Voice).Row
	a.Trunk, a.AttemptNo = plan.Trunk.Name, 1
	out, err := placeCall(ctx, node.Endpoint, plan)
	if err != nil {
		return a, err
	}
	out.Result.ApplyTo(&a)
	a.DTMF = out.DTMF
	return a, node.Writer.Write(ctx, &a)
}

// writeCall prints how the call went: one JSON object, or a line.
func writeCall(w io.Writer, res callJSON, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(res)
	}
	fmt.Fprintf(w, "attempt %s: %s (SIP %d) ring %d ms, talk %d ms, digits %q", res.AttemptID, res.Disposition,
		res.SIPCode, res.RingMS, res.TalkMS, res.DTMF)
	if res.IVRPath != "" {
		fmt.Fprintf(w, ", path %s", res.IVRPath)
	}
	if p := res.Promise; p != nil {
		fmt.Fprintf(w, ", promise %s %s on %s", p.Amount, p.Currency, p.Date)
	}
	if res.Reason != "" {
		fmt.Fprintf(w, " — %s", res.Reason)
	}
	_, err := fmt.Fprintln(w)
	return err
}

// planCall is the call's trunk, number, caller id and prompts; a call
// that would go out without a caller id is refused here.
func planCall(cfg config.Config, trunkName, to, callerID string, promptFiles []string, script bool) (callPlan, error) {
	plan := callPlan{To: to, CallerID: callerID}
	if trunkName != "" {
		var err error
		if plan.Trunk, err = cfg.Trunk(trunkName); err != nil {
			return plan, err
		}
	}
	if !script && callerID == "" && plan.Trunk.CallerID == "" {
		return plan, fmt.Errorf("trunk %s has no caller_id: set one in the config or pass -caller-id (calls never go out anonymous)", plan.Trunk.Name)
	}
	if callerID != "" {
		if err := dialer.CheckCallerID(callerID); err != nil {
			return plan, fmt.Errorf("-caller-id: %w", err)
		}
	}
	for _, p := range promptFiles {
		pr, err := loadPrompt(p)
		if err != nil {
			return plan, err
		}
		plan.Prompts = append(plan.Prompts, pr)
	}
	return plan, nil
}

// callApp builds what one call needs, listening on listen (default
// sip.listen's IP, any free port: a `serve` on this host may hold
// sip.listen): the endpoint and the writer, whose rows go through a spool
// of their own (a `serve` on the same config keeps its spool to itself); a
// script call runs on the runner serve uses (gate, promise rows, opt-outs).
func callApp(ctx context.Context, cfg config.Config, script bool, listen string, log *slog.Logger) (*app.App, error) {
	if listen == "" {
		host, _, _ := net.SplitHostPort(cfg.SIP.Listen)
		listen = net.JoinHostPort(host, "0")
	}
	parts := app.Endpoint | app.Writer
	if script {
		parts = app.Runner
	}
	a, err := app.New(ctx, app.Options{Config: cfg, Parts: parts, Logger: log, Version: version, SpoolName: "call", SIPListen: listen})
	if errors.Is(err, spool.ErrLocked) {
		return nil, fmt.Errorf("another marcador call is running: %w", err)
	}
	if err != nil {
		return nil, err
	}
	a.Start(ctx)
	return a, nil
}

// scriptCall runs a script on one call to an account, through the same
// runner serve uses (gate, promise rows, opt-outs), without touching the
// account's place in its campaign's queue.
func scriptCall(ctx context.Context, r *campaign.Runner, log *slog.Logger, req campaign.CallRequest) (analytics.Attempt, callJSON, error) {
	var out callJSON
	if req.SkipGate {
		log.Warn("calling without the compliance gate", "account", req.Account, "to", req.To)
	}
	a, res, err := r.CallOnce(ctx, req)
	if err != nil {
		return a, out, err
	}
	out.Script, out.IVRPath, out.SMS, out.OptOut = req.Script, res.IVRPath(), res.SMS, res.OptedOut
	if p := res.Promise; p != nil {
		out.Promise = &promiseJSON{Amount: p.Amount.StringFixed(2), Currency: a.Currency, Date: p.Date.Format(time.DateOnly)}
	}
	return a, out, nil
}

// loadPrompt reads a WAV file, or a shipped prompt by name (es/reminder).
func loadPrompt(path string) (*media.Prompt, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && !strings.HasSuffix(path, ".wav") {
		if p, perr := prompts.Load(path); perr == nil {
			return p, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("prompt: %w", err)
	}
	return media.DecodeWAV(filepath.Base(path), b)
}

// callPlan is a scripted test call: dial, play, collect, hang up.
type callPlan struct {
	Trunk        *dialer.Trunk
	To           string
	CallerID     string // default the trunk's
	Prompts      []*media.Prompt
	Digits       int
	DigitTimeout time.Duration
	RingTimeout  time.Duration
	// Goodbye is played, without barge-in, after the digits.
	Goodbye *media.Prompt
	// OnSend observes outgoing RTP intervals (benchmarks).
	OnSend func(time.Duration)
}

// callOutcome is how a planned call went.
type callOutcome struct {
	Result dialer.Result
	DTMF   string
	Media  media.Stats
}

// placeCall runs plan on one outbound call. err is only for a call that could
// not be attempted (bad destination, no trunk channel before ctx ended).
func placeCall(ctx context.Context, ep *dialer.Endpoint, plan callPlan) (callOutcome, error) {
	leg, err := ep.Dial(ctx, dialer.DialRequest{Trunk: plan.Trunk, To: plan.To, CallerID: plan.CallerID, RingTimeout: plan.RingTimeout,
		OnSend: plan.OnSend})
	if err != nil {
		return callOutcome{}, err
	}
	var out callOutcome
	select {
	case <-leg.Ended():
		out.Result = leg.Result()
		return out, nil
	default:
	}
	s := leg.Session()
	var dtmf []rune
	if len(plan.Prompts) > 0 {
		pr, _ := s.Play(ctx, plan.Digits > 0, plan.Prompts...)
		if pr.Interrupted {
			dtmf = append(dtmf, pr.Digit)
		}
	}
	if n := plan.Digits - len(dtmf); n > 0 && !(len(dtmf) > 0 && dtmf[0] == '#') {
		more, _ := s.CollectDigits(ctx, n, '#', plan.DigitTimeout, 3*time.Second)
		dtmf = append(dtmf, []rune(more)...)
	}
	if plan.Goodbye != nil {
		s.Play(ctx, false, plan.Goodbye)
	}
	out.Media = s.Stats()
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	out.Result = leg.Hangup(hctx)
	out.DTMF = strings.TrimSuffix(string(dtmf), "#")
	return out, nil
}
