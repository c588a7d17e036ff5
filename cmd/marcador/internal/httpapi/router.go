package httpapi

import (
	"crypto/subtle"
	"net/http"
	"strings"
	"time"
)

// routes mounts handlers on the API's muxes in groups, by how a request is
// let in. Web pages (an embedded web/ folder) will be a group of their own.
type routes struct{ a *API }

// api: a bearer token of Options.Tokens; JSON in and out.
func (rt *routes) api(pattern string, h http.HandlerFunc) {
	rt.a.mux.Handle(pattern, rt.a.auth(rt.a.opt.Tokens, h))
}

// stream: a bearer token, for a response that lasts (server-sent events).
// The server's write deadline (http.write_timeout) would cut it, so it is
// lifted for this response alone (net/http already drops the read deadline
// once the request is read). The handler flushes what it writes and
// returns when the request's context ends.
func (rt *routes) stream(pattern string, h http.Handler) {
	rt.a.mux.Handle(pattern, rt.a.auth(rt.a.opt.Tokens, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).SetWriteDeadline(time.Time{}); err != nil {
			rt.a.log.Error("api: a stream's write deadline cannot be lifted", "path", r.URL.Path, "err", err)
			writeError(w, http.StatusInternalServerError, "streaming is not available")
			return
		}
		h.ServeHTTP(w, r)
	})))
}

// hook: the caller proves itself to the handler (a provider's signed
// webhook); no token.
func (rt *routes) hook(pattern string, h http.Handler) { rt.a.mux.Handle(pattern, h) }

// op: metrics and health. Open unless http.metrics_token is set; served
// by Ops() and, unless http.metrics_listen is set, by the API too.
func (rt *routes) op(pattern string, h http.Handler) {
	if rt.a.opt.MetricsToken != "" {
		h = rt.a.auth([]string{rt.a.opt.MetricsToken}, h)
	}
	rt.a.ops.Handle(pattern, h)
	if !rt.a.opt.MetricsSeparate {
		rt.a.mux.Handle(pattern, h)
	}
}

// auth accepts "Authorization: Bearer <token>" (the scheme in any case,
// RFC 7235) matching one of tokens.
func (a *API) auth(tokens []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := bearer(r.Header.Get("Authorization"))
		if ok {
			for _, t := range tokens {
				if subtle.ConstantTimeCompare([]byte(got), []byte(t)) == 1 {
					next.ServeHTTP(w, r)
					return
				}
			}
		}
		a.log.Info("api: unauthorized", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "had_token", ok)
		w.Header().Set("WWW-Authenticate", `Bearer realm="marcador"`)
		// Close rather than wait for whatever body the stranger still
		// sends (the server would read up to 256 KiB of it to keep the
		// connection).
		w.Header().Set("Connection", "close")
		_ = http.NewResponseController(w).SetReadDeadline(time.Now())
		writeError(w, http.StatusUnauthorized, "missing or invalid bearer token")
	})
}

// bearer reads the token of an Authorization header's Bearer credentials.
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
