// Package twilio is the sms.Provider on Twilio's Messages API through
// twilio-go, and the check of Twilio's webhook signatures.
package twilio

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	twiliogo "github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/sms"
)

// Config is the twilio: section of marcador's config.
type Config struct {
	AccountSID          string
	AuthToken           string
	From                string // E.164 sender for SMS
	MessagingServiceSID string // preferred over From when set
	WhatsAppFrom        string // E.164 WhatsApp sender, without the whatsapp: prefix
	// APIURL routes every request elsewhere (a local Twilio-compatible
	// server); empty means Twilio's own hosts.
	APIURL string
	// Timeout bounds one HTTP request; default 15s.
	Timeout time.Duration
}

// Provider sends through Twilio. It is safe for concurrent use.
type Provider struct {
	cfg Config
	api *openapi.ApiService
}

// New checks cfg and builds the client.
func New(cfg Config) (*Provider, error) {
	switch {
	case !strings.HasPrefix(cfg.AccountSID, "AC") || len(cfg.AccountSID) != 34:
		return nil, fmt.Errorf("twilio.account_sid %q: want AC followed by 32 hex digits", cfg.AccountSID)
	case cfg.AuthToken == "":
		return nil, errors.New("twilio.auth_token: empty")
	case cfg.From == "" && cfg.MessagingServiceSID == "" && cfg.WhatsAppFrom == "":
		return nil, errors.New("twilio: set from, messaging_service_sid or whatsapp_from")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	hc := &http.Client{Timeout: cfg.Timeout, Transport: http.DefaultTransport}
	if cfg.APIURL != "" {
		u, err := url.Parse(cfg.APIURL)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("twilio.api_url %q: want http(s)://host[:port]", cfg.APIURL)
		}
		// twilio-go has no base-URL option: rewrite the host under it.
		hc.Transport = rewrite{base: u, next: http.DefaultTransport}
	}
	c := &client.Client{Credentials: client.NewCredentials(cfg.AccountSID, cfg.AuthToken), HTTPClient: hc}
	c.SetAccountSid(cfg.AccountSID)
	rc := twiliogo.NewRestClientWithParams(twiliogo.ClientParams{Client: c})
	return &Provider{cfg: cfg, api: rc.Api}, nil
}

type rewrite struct {
	base *url.URL
	next http.RoundTripper
}

func (t rewrite) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = t.base.Scheme, t.base.Host
	r.URL.Path = strings.TrimSuffix(t.base.Path, "/") + r.URL.Path
	r.Host = ""
	return t.next.RoundTrip(r)
}

// Sender is the From number or messaging service of a channel.
func (p *Provider) Sender(ch analytics.Channel) string {
	if ch == analytics.WhatsApp && p.cfg.WhatsAppFrom != "" {
		return "whatsapp:" + p.cfg.WhatsAppFrom
	}
	if p.cfg.MessagingServiceSID != "" {
		return p.cfg.MessagingServiceSID
	}
	return p.cfg.From
}

func address(ch analytics.Channel, number string) string {
	if ch == analytics.WhatsApp {
		return "whatsapp:" + number
	}
	return number
}

// Send creates the message.
func (p *Provider) Send(ctx context.Context, m sms.Message) (sms.Receipt, error) {
	params := &openapi.CreateMessageParams{}
	params.SetTo(address(m.Channel, m.To))
	switch from := p.Sender(m.Channel); {
	case strings.HasPrefix(from, "MG"):
		params.SetMessagingServiceSid(from)
	case from == "":
		return sms.Receipt{}, fmt.Errorf("twilio: no sender configured for %s", m.Channel)
	default:
		params.SetFrom(from)
	}
	if m.ContentSID != "" {
		params.SetContentSid(m.ContentSID)
		if m.ContentVariables != "" {
			params.SetContentVariables(m.ContentVariables)
		}
	} else {
		params.SetBody(m.Body)
	}
	if m.StatusCallback != "" {
		params.SetStatusCallback(m.StatusCallback)
	}
	msg, err := do(ctx, func() (*openapi.ApiV2010Message, error) { return p.api.CreateMessage(params) })
	if err != nil {
		return sms.Receipt{}, fmt.Errorf("twilio: send to %s: %w", m.To, err)
	}
	return receipt(msg), nil
}

// Find looks through the newest messages to m.To for one with m's body
// created at or after since.
func (p *Provider) Find(ctx context.Context, m sms.Message, since time.Time) (sms.Receipt, bool, error) {
	params := &openapi.ListMessageParams{}
	params.SetTo(address(m.Channel, m.To))
	params.SetPageSize(20)
	page, err := do(ctx, func() (*openapi.ListMessageResponse, error) { return p.api.PageMessage(params, "", "") })
	if err != nil {
		return sms.Receipt{}, false, fmt.Errorf("twilio: list messages to %s: %w", m.To, err)
	}
	for i := range page.Messages {
		msg := &page.Messages[i]
		r := receipt(msg)
		// Twilio's dates have whole seconds.
		if r.Created.Before(since.Truncate(time.Second)) || (msg.Direction != nil && *msg.Direction != "outbound-api") {
			continue
		}
		if m.ContentSID == "" && (msg.Body == nil || *msg.Body != m.Body) {
			continue
		}
		return r, true, nil
	}
	return sms.Receipt{}, false, nil
}

// do runs a twilio-go call, which takes no context, and stops waiting when
// ctx ends (the request itself is bounded by the client's timeout).
func do[T any](ctx context.Context, f func() (*T, error)) (*T, error) {
	type result struct {
		v   *T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-ch:
		var te *client.TwilioRestError
		if errors.As(r.err, &te) {
			return nil, &sms.Error{HTTPStatus: te.Status, Code: te.Code, Message: te.Message}
		}
		return r.v, r.err
	}
}

func receipt(m *openapi.ApiV2010Message) sms.Receipt {
	var r sms.Receipt
	if m.Sid != nil {
		r.SID = *m.Sid
	}
	if m.Status != nil {
		r.Status = *m.Status
	}
	if m.NumSegments != nil {
		r.Segments, _ = strconv.Atoi(*m.NumSegments)
	}
	if m.DateCreated != nil {
		r.Created, _ = time.Parse(time.RFC1123Z, *m.DateCreated)
	}
	return r
}

// Validator checks X-Twilio-Signature on webhook requests.
type Validator struct {
	rv        client.RequestValidator
	publicURL string
}

// NewValidator checks signatures made with authToken for requests that
// Twilio sent to publicURL (the base URL it calls, e.g.
// https://dialer.example.com) followed by the request's path and query.
func NewValidator(authToken, publicURL string) Validator {
	return Validator{rv: client.NewRequestValidator(authToken), publicURL: strings.TrimSuffix(publicURL, "/")}
}

// Valid reports whether r, whose form body is body, is signed by Twilio.
func (v Validator) Valid(r *http.Request, body []byte) bool {
	sig := r.Header.Get("X-Twilio-Signature")
	if sig == "" {
		return false
	}
	return v.rv.ValidateBody(v.publicURL+r.URL.RequestURI(), body, sig)
}
