package httpapi

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// healthz runs every check and answers {"name":"ok"|"down: <reason>"}, 503
// when one is down. The reason is short and public (see healthReason); the
// error itself goes to the log when a check's state changes.
func (a *API) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	out := map[string]string{}
	code := http.StatusOK
	for name, check := range a.opt.Checks {
		err := check(ctx)
		reason := ""
		if err != nil {
			reason = healthReason(err)
			out[name] = "down: " + reason
			code = http.StatusServiceUnavailable
		} else {
			out[name] = "ok"
		}
		a.health.note(a, name, reason, err)
	}
	writeJSON(w, code, out)
}

// healthLog remembers each check's last reason, so a failing dependency is
// logged once when it fails (with the detail) and once when it is back,
// however often /healthz is polled.
type healthLog struct {
	mu   sync.Mutex
	last map[string]string
}

func (h *healthLog) note(a *API, name, reason string, err error) {
	h.mu.Lock()
	prev, seen := h.last[name]
	h.last[name] = reason
	h.mu.Unlock()
	switch {
	case reason != "" && reason != prev:
		a.log.Warn("healthz: dependency down", "check", name, "reason", reason, "err", err)
	case reason == "" && seen && prev != "":
		a.log.Info("healthz: dependency ok again", "check", name)
	}
}

// healthReason says why a check failed in a few words safe to publish:
// unreachable, timeout, auth, or the reason an error gives through a
// HealthReason() string method; any other error's text with addresses
// masked.
func healthReason(err error) string {
	var pub interface{ HealthReason() string }
	if errors.As(err, &pub) {
		return pub.HealthReason()
	}
	var ne net.Error
	var op *net.OpError
	var dns *net.DNSError
	msg := strings.ToLower(err.Error())
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case strings.Contains(msg, "noauth") || strings.Contains(msg, "wrongpass") || strings.Contains(msg, "authentication") ||
		strings.Contains(msg, "password"):
		return "auth"
	case errors.As(err, &dns) || errors.As(err, &op) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "unreachable"
	}
	s := addrRe.ReplaceAllString(err.Error(), "<address>")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// addrRe matches what may name an internal host: URLs, IPv4 and bracketed
// IPv6 addresses, host:port.
var addrRe = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://\S+|\[[0-9a-fA-F:.]+\](:\d+)?|\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b|\b[a-zA-Z0-9][a-zA-Z0-9.-]*:\d{1,5}\b`)
