// Package twiliotest is a local server that speaks the part of Twilio's
// REST API Marcador uses: Messages create, list and fetch under
// /2010-04-01/Accounts/{AccountSid}/, with basic auth, Twilio's required
// parameters and form encoding, Twilio-shaped JSON and real error codes. It
// sends signed status callbacks and can deliver signed inbound messages to a
// webhook. Tests and `marcador demo` point twilio.api_url at it.
package twiliotest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/marcador/marcador/sms"
)

// Outcome scripts what happens to messages sent to one number.
type Outcome struct {
	// CreateError refuses the create with this Twilio code (21211, 21610,
	// 21614, ...), HTTP 400.
	CreateError int
	// Throttle answers the next Throttle creates with 429 (code 20429).
	Throttle int
	// Fail answers the next Fail creates with 500 without creating anything.
	Fail int
	// Ambiguous creates the message but answers the next Ambiguous creates
	// with 500, as when Twilio's response is lost.
	Ambiguous int
	// Final is the last status callback: delivered (default), undelivered
	// or failed; ErrorCode comes with undelivered and failed.
	Final     string
	ErrorCode int
	// CallbackFirst makes both status callbacks before the create is
	// answered, as Twilio may when its answer is slow to reach us.
	CallbackFirst bool
}

// Options configure a Server.
type Options struct {
	AccountSID, AuthToken string
	// Listen is the address to serve on; default 127.0.0.1 on a free port.
	Listen string
	// Numbers are the account's sender numbers (E.164, whatsapp:+... for
	// WhatsApp senders); empty accepts any From.
	Numbers []string
	// CallbackDelay is the pause before each status callback; default 20ms.
	CallbackDelay time.Duration
	Logger        *slog.Logger
}

// Message is a message as the server keeps it.
type Message struct {
	SID, From, To, Body, Status, MessagingServiceSID string
	ContentSID, ContentVariables, StatusCallback     string
	Direction                                        string // outbound-api, outbound-reply, inbound
	ErrorCode                                        int
	Segments                                         int
	Created                                          time.Time
}

// Callback is one status callback the server made and how it was answered.
type Callback struct {
	SID, Status string
	HTTPStatus  int
}

// Server is the fake Twilio. Close it to wait for pending callbacks.
type Server struct {
	opt Options
	log *slog.Logger
	srv *http.Server
	ln  net.Listener
	hc  *http.Client

	mu        sync.Mutex
	msgs      []*Message
	outcomes  map[string]*Outcome
	callbacks []Callback
	creates   int
	pending   sync.WaitGroup
	closed    bool
}

// Start listens on opt.Listen.
func Start(opt Options) (*Server, error) {
	if opt.AccountSID == "" || opt.AuthToken == "" {
		return nil, fmt.Errorf("twiliotest: AccountSID and AuthToken are required")
	}
	if opt.CallbackDelay == 0 {
		opt.CallbackDelay = 20 * time.Millisecond
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Listen == "" {
		opt.Listen = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", opt.Listen)
	if err != nil {
		return nil, fmt.Errorf("twiliotest: listen %s: %w", opt.Listen, err)
	}
	s := &Server{opt: opt, log: opt.Logger, ln: ln, outcomes: map[string]*Outcome{},
		hc: &http.Client{Timeout: 10 * time.Second}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2010-04-01/Accounts/{sid}/Messages.json", s.auth(s.create))
	mux.HandleFunc("GET /2010-04-01/Accounts/{sid}/Messages.json", s.auth(s.list))
	mux.HandleFunc("GET /2010-04-01/Accounts/{sid}/Messages/{msg}", s.auth(s.fetch))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		twilioError(w, 404, 20404, fmt.Sprintf("The requested resource %s was not found", r.URL.Path))
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

// URL is the base URL to give twilio.api_url.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the server after the callbacks in flight are made.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.pending.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	s.srv.Shutdown(ctx)
}

// SetOutcome scripts messages to number (E.164, without whatsapp:).
func (s *Server) SetOutcome(number string, o Outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outcomes[number] = &o
}

// Messages returns a copy of every message, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.msgs))
	for i, m := range s.msgs {
		out[i] = *m
	}
	return out
}

// Callbacks returns the status callbacks made so far.
func (s *Server) Callbacks() []Callback {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.callbacks)
}

// Creates counts create requests, accepted or not.
func (s *Server) Creates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.creates
}

func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(s.opt.AccountSID)) != 1 ||
			subtle.ConstantTimeCompare([]byte(p), []byte(s.opt.AuthToken)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
			twilioError(w, 401, 20003, "Authenticate")
			return
		}
		if r.PathValue("sid") != s.opt.AccountSID {
			twilioError(w, 404, 20404, fmt.Sprintf("The requested resource %s was not found", r.URL.Path))
			return
		}
		h(w, r)
	}
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.creates++
	s.mu.Unlock()
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		twilioError(w, 400, 20001, "Content-Type must be application/x-www-form-urlencoded")
		return
	}
	if err := r.ParseForm(); err != nil {
		twilioError(w, 400, 20001, "Unable to parse the request body: "+err.Error())
		return
	}
	f := r.PostForm
	to, from, svc, body, content := f.Get("To"), f.Get("From"), f.Get("MessagingServiceSid"), f.Get("Body"), f.Get("ContentSid")
	number := strings.TrimPrefix(to, "whatsapp:")
	if code, msg := s.checkCreate(f); code != 0 {
		twilioError(w, 400, code, msg)
		return
	}
	s.mu.Lock()
	o := s.outcomes[number]
	var ambiguous bool
	if o != nil {
		switch {
		case o.CreateError != 0:
			s.mu.Unlock()
			twilioError(w, 400, o.CreateError, createErrorText(o.CreateError, to))
			return
		case o.Throttle > 0:
			o.Throttle--
			s.mu.Unlock()
			w.Header().Set("Retry-After", "1")
			twilioError(w, 429, 20429, "Too Many Requests")
			return
		case o.Fail > 0:
			o.Fail--
			s.mu.Unlock()
			twilioError(w, 500, 20500, "Internal Server Error")
			return
		case o.Ambiguous > 0:
			o.Ambiguous--
			ambiguous = true
		}
	}
	m := &Message{SID: sid("SM"), From: from, To: to, Body: body, Status: "queued", MessagingServiceSID: svc,
		ContentSID: content, ContentVariables: f.Get("ContentVariables"), StatusCallback: f.Get("StatusCallback"),
		Direction: "outbound-api", Created: time.Now().UTC().Truncate(time.Second)}
	if from == "" {
		m.Status = "accepted" // a messaging service picks the sender later
	}
	m.Segments = segments(body)
	final, code := "delivered", 0
	if o != nil && o.Final != "" {
		final, code = o.Final, o.ErrorCode
	}
	s.msgs = append(s.msgs, m)
	first := false
	if m.StatusCallback != "" && !s.closed {
		s.pending.Add(1)
		if first = o != nil && o.CallbackFirst; !first {
			go s.deliver(m.SID, final, code)
		}
	}
	view := s.view(m)
	s.mu.Unlock()
	if first {
		s.deliver(m.SID, final, code)
	}
	s.log.Info("twiliotest: message created", "sid", m.SID, "to", to, "ambiguous", ambiguous)
	if ambiguous {
		twilioError(w, 500, 20500, "Internal Server Error")
		return
	}
	writeJSON(w, 201, view)
}

// deliver makes the status callbacks: sent, then the final status.
func (s *Server) deliver(msgSID, final string, code int) {
	defer s.pending.Done()
	for _, st := range []string{"sent", final} {
		time.Sleep(s.opt.CallbackDelay)
		s.mu.Lock()
		var m *Message
		for _, x := range s.msgs {
			if x.SID == msgSID {
				m = x
			}
		}
		m.Status = st
		if st == final && code != 0 {
			m.ErrorCode = code
		}
		form := url.Values{"AccountSid": {s.opt.AccountSID}, "ApiVersion": {"2010-04-01"}, "From": {m.From}, "To": {m.To},
			"MessageSid": {m.SID}, "SmsSid": {m.SID}, "MessageStatus": {st}, "SmsStatus": {st}}
		if m.MessagingServiceSID != "" {
			form.Set("MessagingServiceSid", m.MessagingServiceSID)
		}
		if st == final && code != 0 {
			form.Set("ErrorCode", strconv.Itoa(code))
		}
		cb := m.StatusCallback
		s.mu.Unlock()
		resp, err := s.post(cb, form)
		status := 0
		if err == nil {
			status = resp.StatusCode
			resp.Body.Close()
		}
		s.mu.Lock()
		s.callbacks = append(s.callbacks, Callback{SID: msgSID, Status: st, HTTPStatus: status})
		s.mu.Unlock()
	}
}

// post sends a signed webhook request, as Twilio does.
func (s *Server) post(u string, form url.Values) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", Sign(s.opt.AuthToken, u, form))
	req.Header.Set("I-Twilio-Idempotency-Token", sid(""))
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	return s.hc.Do(req)
}

// Inbound delivers a debtor's text from `from` to our number `to` at the
// webhook URL, signed, and returns the replies the webhook's TwiML asked
// for (they are kept as outbound-reply messages).
func (s *Server) Inbound(webhook, from, to, body string) (replies []string, status int, err error) {
	msid := sid("SM")
	form := url.Values{"AccountSid": {s.opt.AccountSID}, "ApiVersion": {"2010-04-01"}, "From": {from}, "To": {to},
		"Body": {body}, "MessageSid": {msid}, "SmsMessageSid": {msid}, "SmsSid": {msid}, "SmsStatus": {"received"},
		"NumMedia": {"0"}, "NumSegments": {strconv.Itoa(segments(body))}}
	s.mu.Lock()
	s.msgs = append(s.msgs, &Message{SID: msid, From: from, To: to, Body: body, Status: "received", Direction: "inbound",
		Created: time.Now().UTC().Truncate(time.Second), Segments: segments(body)})
	s.mu.Unlock()
	resp, err := s.post(webhook, form)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != 200 {
		return nil, resp.StatusCode, nil
	}
	var twiml struct {
		Messages []string `xml:"Message"`
	}
	if len(bytes.TrimSpace(b)) > 0 {
		if err := xml.Unmarshal(b, &twiml); err != nil {
			return nil, resp.StatusCode, fmt.Errorf("twiliotest: webhook answered invalid TwiML %q: %w", b, err)
		}
	}
	s.mu.Lock()
	for _, r := range twiml.Messages {
		s.msgs = append(s.msgs, &Message{SID: sid("SM"), From: to, To: from, Body: r, Status: "sent", Direction: "outbound-reply",
			Created: time.Now().UTC().Truncate(time.Second), Segments: segments(r)})
	}
	s.mu.Unlock()
	return twiml.Messages, resp.StatusCode, nil
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	size := 50
	if n, err := strconv.Atoi(q.Get("PageSize")); err == nil && n > 0 && n <= 1000 {
		size = n
	}
	s.mu.Lock()
	var out []map[string]any
	for i := len(s.msgs) - 1; i >= 0 && len(out) < size; i-- { // newest first, as Twilio lists
		m := s.msgs[i]
		if (q.Get("To") != "" && m.To != q.Get("To")) || (q.Get("From") != "" && m.From != q.Get("From")) {
			continue
		}
		out = append(out, s.view(m))
	}
	s.mu.Unlock()
	base := r.URL.Path
	writeJSON(w, 200, map[string]any{"messages": out, "end": max(len(out)-1, 0), "first_page_uri": base + "?PageSize=" + strconv.Itoa(size) + "&Page=0",
		"next_page_uri": nil, "previous_page_uri": nil, "page": 0, "page_size": size, "start": 0, "uri": r.URL.RequestURI()})
}

func (s *Server) fetch(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimSuffix(r.PathValue("msg"), ".json")
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.msgs {
		if m.SID == id {
			writeJSON(w, 200, s.view(m))
			return
		}
	}
	twilioError(w, 404, 20404, fmt.Sprintf("The requested resource %s was not found", r.URL.Path))
}

// view is a message as Twilio's JSON shows it.
func (s *Server) view(m *Message) map[string]any {
	var errCode, errMsg any
	if m.ErrorCode != 0 {
		errCode, errMsg = m.ErrorCode, fmt.Sprintf("Error %d", m.ErrorCode)
	}
	var svc, dateSent any
	if m.MessagingServiceSID != "" {
		svc = m.MessagingServiceSID
	}
	if m.Status != "queued" && m.Status != "accepted" {
		dateSent = m.Created.Format(time.RFC1123Z)
	}
	uri := fmt.Sprintf("/2010-04-01/Accounts/%s/Messages/%s.json", s.opt.AccountSID, m.SID)
	return map[string]any{
		"account_sid": s.opt.AccountSID, "api_version": "2010-04-01", "body": m.Body,
		"date_created": m.Created.Format(time.RFC1123Z), "date_updated": m.Created.Format(time.RFC1123Z), "date_sent": dateSent,
		"direction": m.Direction, "error_code": errCode, "error_message": errMsg, "from": m.From, "to": m.To,
		"messaging_service_sid": svc, "num_media": "0", "num_segments": strconv.Itoa(m.Segments), "price": nil,
		"price_unit": "USD", "sid": m.SID, "status": m.Status, "uri": uri,
		"subresource_uris": map[string]string{"media": strings.TrimSuffix(uri, ".json") + "/Media.json"},
	}
}

// segments is the billed count, by the same GSM-7/UCS-2 rules the sender
// reports.
func segments(body string) int {
	_, n := sms.Segments(body)
	return n
}

func twilioError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{"code": code, "message": msg,
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code), "status": status})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func sid(prefix string) string {
	b := make([]byte, 16)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Sign computes X-Twilio-Signature for a POST to u with form: base64 of
// HMAC-SHA1, keyed by the auth token, over the URL followed by each
// parameter's name and value in name order.
func Sign(authToken, u string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(u)
	for _, k := range keys {
		b.WriteString(k)
		b.WriteString(form.Get(k))
	}
	h := hmac.New(sha1.New, []byte(authToken))
	h.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}
