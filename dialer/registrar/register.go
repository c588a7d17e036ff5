package registrar

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/emiago/sipgo/sip"
)

// challenge is a 401 with one WWW-Authenticate per algorithm offered to
// the user, sharing one fresh nonce.
func (r *Registrar) challenge(ctx context.Context, req *sip.Request, user string, stale bool) *sip.Response {
	algs := r.opt.Algorithms
	if ch, ok := r.opt.Credentials.(AlgorithmChooser); ok && user != "" {
		if a, err := ch.Algorithms(ctx, user, r.opt.Realm); err == nil && len(a) > 0 {
			var keep []Algorithm
			for _, x := range a {
				if r.offers(x) {
					keep = append(keep, x)
				}
			}
			if len(keep) > 0 {
				algs = keep
			}
		}
	}
	nonce := r.nonces.mint(r.opt.Now())
	res := sip.NewResponseFromRequest(req, 401, "Unauthorized", nil)
	for _, a := range algs {
		res.AppendHeader(sip.NewHeader("WWW-Authenticate", challenge(r.opt.Realm, nonce, a, stale)))
	}
	return res
}

// checkExpiries clamps each contact's expiry to the maximum and refuses an
// interval under the minimum (423) or more contacts than allowed (403).
func (r *Registrar) checkExpiries(req *sip.Request, contacts []contactReq) *sip.Response {
	adding := 0
	for i := range contacts {
		c := &contacts[i]
		if c.expires == 0 {
			continue
		}
		if c.expires < r.opt.MinExpires {
			res := sip.NewResponseFromRequest(req, 423, "Interval Too Brief", nil)
			res.AppendHeader(sip.NewHeader("Min-Expires", strconv.Itoa(int(r.opt.MinExpires/time.Second))))
			return res
		}
		c.expires = min(c.expires, r.opt.MaxExpires)
		adding++
	}
	if adding > r.opt.MaxContacts {
		return sip.NewResponseFromRequest(req, 403, fmt.Sprintf("Forbidden (more than %d contacts)", r.opt.MaxContacts), nil)
	}
	return nil
}

// bind applies an authenticated REGISTER to the agent's bindings.
func (r *Registrar) bind(ctx context.Context, req *sip.Request, user, agentID string, src netip.AddrPort, now time.Time) (*sip.Response, error) {
	wildcard, contacts, err := readContacts(req, r.opt.DefaultExpires)
	if err != nil {
		return sip.NewResponseFromRequest(req, 400, "Bad Request ("+err.Error()+")", nil), nil
	}
	if res := r.checkExpiries(req, contacts); res != nil {
		return res, nil
	}
	var path []string
	for _, h := range req.GetHeaders("Path") {
		path = append(path, h.Value())
	}
	base := Binding{AgentID: agentID, User: user, Received: src.String(), Transport: req.Transport(), Path: path,
		UserAgent: userAgent(req), Node: r.opt.Node, CallID: callID(req), CSeq: req.CSeq().SeqNo, Updated: now}
	star := "0"
	if wildcard {
		star = "1"
	}
	args := []any{now.UnixMilli(), expiryMember(agentID, ""), base.CallID, base.CSeq, r.opt.MaxContacts, star,
		bindingGrace.Milliseconds()}
	for _, c := range contacts {
		b := base
		b.Contact, b.ContactParams, b.NAT = c.uri.String(), c.params, behindNAT(c.uri, src)
		exp := int64(0)
		if c.expires > 0 {
			b.Expires = now.Add(c.expires)
			exp = b.Expires.UnixMilli()
		}
		js, err := jsonString(b.record())
		if err != nil {
			return nil, err
		}
		args = append(args, c.key, exp, js)
	}
	out, err := registerScript.Run(ctx, r.rdb, []string{bindingKey(agentID), expiryKey}, args...).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("bindings of agent %s: %w", agentID, err)
	}
	if len(out) == 1 && out[0] == "cseq" {
		return sip.NewResponseFromRequest(req, 400, "Bad Request (CSeq not above the binding's)", nil), nil
	}
	if len(out) == 0 || out[0] != "ok" || len(out)%2 != 1 {
		return nil, fmt.Errorf("bindings of agent %s: script returned %d values", agentID, len(out))
	}
	var current []Binding
	for i := 1; i < len(out); i += 2 {
		b, err := decodeBinding(out[i+1])
		if err != nil {
			return nil, fmt.Errorf("bindings of agent %s: %w", agentID, err)
		}
		switch out[i] {
		case "expired":
			r.logChange("expired", b, "")
		case "removed":
			r.logChange("unregistered", b, "request")
		case "replaced":
			r.logChange("unregistered", b, "replaced by a newer contact")
		case "added":
			r.logChange("registered", b, "")
		case "refreshed":
			r.log.Debug("sip registrar: refreshed", "agent", b.AgentID, "contact", b.Contact, "expires", b.Expires.UTC())
		case "current":
			current = append(current, b)
		}
	}
	sortBindings(current)
	// RFC 3261 §10.3 step 8: every current binding, with its expires.
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	for _, b := range current {
		secs := int64((b.Expires.Sub(now) + time.Second - 1) / time.Second)
		res.AppendHeader(sip.NewHeader("Contact", fmt.Sprintf("<%s>%s;expires=%d", b.Contact, b.ContactParams, secs)))
	}
	for _, p := range path {
		res.AppendHeader(sip.NewHeader("Path", p))
	}
	res.AppendHeader(sip.NewHeader("Date", now.UTC().Format(http.TimeFormat)))
	return res, nil
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode binding: %w", err)
	}
	return string(b), nil
}
