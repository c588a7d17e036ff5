package agenttest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// StatusError is a final response other than the one wanted.
type StatusError struct {
	Method string
	Code   int
	Reason string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s answered %d %s", e.Method, e.Code, e.Reason)
}

// Register registers the phone's contact (digest-authenticated) and keeps
// it registered until Unregister, Vanish or Close. The error is a
// *StatusError when the registrar refused (401 for a wrong password, 403
// when locked out).
func (p *Phone) Register(ctx context.Context) error {
	granted, err := p.register(ctx, p.opt.Expires)
	if err != nil {
		return err
	}
	p.mu.Lock()
	if p.refresh != nil {
		p.refresh()
	}
	rctx, cancel := context.WithCancel(context.Background())
	p.refresh = cancel
	p.mu.Unlock()
	go p.keepRegistered(rctx, granted)
	return nil
}

// Registrations counts the REGISTERs the registrar accepted (refreshes
// included).
func (p *Phone) Registrations() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.regs
}

func (p *Phone) keepRegistered(ctx context.Context, granted time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(granted/2, time.Second)):
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		g, err := p.register(rctx, p.opt.Expires)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				p.log.Warn("test phone: refresh failed", "err", err)
			}
			continue
		}
		granted = g
	}
}

// Unregister removes the phone's binding (Expires: 0) and stops refreshing.
func (p *Phone) Unregister(ctx context.Context) error {
	p.mu.Lock()
	if p.refresh != nil {
		p.refresh()
		p.refresh = nil
	}
	p.mu.Unlock()
	_, err := p.register(ctx, 0)
	return err
}

// register sends one REGISTER asking for expires, answers its challenge
// and returns what the registrar granted.
func (p *Phone) register(ctx context.Context, expires time.Duration) (time.Duration, error) {
	res, err := p.cli.Do(ctx, p.registerReq(expires, ""))
	if err != nil {
		return 0, fmt.Errorf("test phone %s: REGISTER: %w", p.opt.User, err)
	}
	if res.StatusCode == 401 {
		auth, err := p.answer(res)
		if err != nil {
			return 0, err
		}
		if res, err = p.cli.Do(ctx, p.registerReq(expires, auth)); err != nil {
			return 0, fmt.Errorf("test phone %s: REGISTER: %w", p.opt.User, err)
		}
	}
	if res.StatusCode != 200 {
		return 0, &StatusError{Method: "REGISTER", Code: int(res.StatusCode), Reason: res.Reason}
	}
	p.mu.Lock()
	p.regs++
	p.mu.Unlock()
	granted := expires
	for _, h := range res.GetHeaders("Contact") {
		if strings.Contains(h.Value(), p.ContactURI()) {
			if i := strings.Index(h.Value(), "expires="); i >= 0 {
				if n, err := strconv.Atoi(strings.TrimSpace(h.Value()[i+len("expires="):])); err == nil {
					granted = time.Duration(n) * time.Second
				}
			}
		}
	}
	return granted, nil
}

func (p *Phone) registerReq(expires time.Duration, auth string) *sip.Request {
	p.mu.Lock()
	p.cseq++
	seq := p.cseq
	p.mu.Unlock()
	r := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: p.rhost, Port: p.rport})
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: p.opt.User, Host: p.rhost}, Params: sip.NewParams()}
	from.Params.Add("tag", p.tag)
	r.AppendHeader(from)
	r.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: p.opt.User, Host: p.rhost}})
	cid := sip.CallIDHeader(p.callID)
	r.AppendHeader(&cid)
	r.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: sip.REGISTER})
	c := p.contact()
	r.AppendHeader(&c)
	r.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(int(expires/time.Second))))
	r.AppendHeader(sip.NewHeader("User-Agent", "agenttest/1.0"))
	if auth != "" {
		r.AppendHeader(sip.NewHeader("Authorization", auth))
	}
	return r
}

// answer computes the Authorization for a 401: the challenge of the
// configured algorithm, else the first.
func (p *Phone) answer(res *sip.Response) (string, error) {
	var chosen *digest.Challenge
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		c, err := digest.ParseChallenge(h.Value())
		if err != nil {
			return "", fmt.Errorf("test phone %s: challenge %q: %w", p.opt.User, h.Value(), err)
		}
		if chosen == nil && (p.opt.Algorithm == "" || strings.EqualFold(c.Algorithm, p.opt.Algorithm)) {
			chosen = c
		}
	}
	if chosen == nil {
		return "", fmt.Errorf("test phone %s: no %s challenge offered", p.opt.User, p.opt.Algorithm)
	}
	uri := sip.Uri{Scheme: "sip", Host: p.rhost, Port: p.rport}
	cred, err := digest.Digest(chosen, digest.Options{Method: "REGISTER", URI: uri.Addr(), Username: p.opt.User,
		Password: p.opt.Password, Count: 1})
	if err != nil {
		return "", fmt.Errorf("test phone %s: digest: %w", p.opt.User, err)
	}
	return cred.String(), nil
}
