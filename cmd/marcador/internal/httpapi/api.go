// Package httpapi is every HTTP route a node serves, mounted in one place
// (mount): the JSON API under /api/v1/ (bearer tokens), the Twilio
// webhooks under /webhooks/twilio/ (handlers of the sms package, which
// check the provider's signature), Prometheus metrics on /metrics and
// health on /healthz. The router, its groups (router.go), authentication,
// JSON decoding and error answers are this package's; feature packages
// hand it http.Handler values.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
)

// Options wires the API to its dependencies.
type Options struct {
	Store *queue.Store
	// Gate serves the compliance and do-not-contact routes.
	Gate *compliance.Gate
	// Runner serves start/pause/stop; without it they answer 503.
	Runner Runner
	// Payments serves POST /api/v1/payments; without it the route is 404.
	Payments Payments
	// Agents serves /api/v1/agents (agent.Station); without it those
	// routes are 404.
	Agents Agents
	// Calls serves /api/v1/calls/{id} (the campaign runner); Screens the
	// agents' event streams, GET /api/v1/agents/{id}/events (agent.Desk).
	// Without them those routes are 404.
	Calls   Calls
	Screens Screens
	// Previews serves a preview campaign's agents' next, dial and skip;
	// without it those routes are 404.
	Previews Previews
	// Messages serves POST /api/v1/messages and GET
	// /api/v1/conversations/{phone}; without it they are 404.
	Messages Messages
	// KPIs serves GET /api/v1/kpis and /api/v1/kpis/best-time; without
	// it they are 404.
	KPIs KPIs
	// TwilioStatus and TwilioInbound serve /webhooks/twilio/status and
	// /webhooks/twilio/inbound (they check Twilio's signature, not tokens).
	TwilioStatus, TwilioInbound http.Handler
	// Tokens are the accepted bearer tokens; with none, every API call is 401.
	Tokens []string
	// Gatherer serves /metrics. Optional.
	Gatherer prometheus.Gatherer
	// Checks run by /healthz, by name (e.g. "redis", "clickhouse"). A
	// failure is shown as a short reason (see healthReason), never the
	// error's text with addresses in it; the detail is logged.
	Checks map[string]func(context.Context) error
	// MetricsToken, when set, is the bearer token /metrics and /healthz
	// need (http.metrics_token); they are open without it.
	MetricsToken string
	// MetricsSeparate serves /metrics and /healthz only from Ops() (on
	// http.metrics_listen), not from the API handler.
	MetricsSeparate bool
	// Refs is what a campaign may name on this node (trunks, profiles,
	// scripts, templates); a campaign naming anything else is refused.
	Refs queue.CampaignRefs
	// Now is the clock (injected so tests control "due now").
	Now    func() time.Time
	Logger *slog.Logger
	// MaxUpload bounds a contacts upload body. Default 64 MiB.
	MaxUpload int64
}

// API is an http.Handler.
type API struct {
	opt    Options
	log    *slog.Logger
	mux    *http.ServeMux
	ops    *http.ServeMux
	health healthLog
}

// New builds the handler tree.
func New(opt Options) *API {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.MaxUpload <= 0 {
		opt.MaxUpload = 64 << 20
	}
	a := &API{opt: opt, log: opt.Logger, mux: http.NewServeMux(), ops: http.NewServeMux(), health: healthLog{last: map[string]string{}}}
	a.mount(&routes{a: a})
	return a
}

// mount declares every route the node serves, by how a request is let in.
// The sms webhooks are the sms package's handlers; a feature that brings
// routes (the agents API, server-sent events, web pages) is mounted here
// too.
func (a *API) mount(rt *routes) {
	opt := a.opt
	rt.api("POST /api/v1/campaigns", a.putCampaign)
	rt.api("GET /api/v1/campaigns/{id}", a.getCampaign)
	rt.api("POST /api/v1/campaigns/{id}/contacts", a.uploadContacts)
	rt.api("PATCH /api/v1/campaigns/{id}/pacing", a.patchPacing)
	if opt.Runner != nil {
		rt.api("POST /api/v1/campaigns/{id}/{action}", a.runCampaign)
	}
	if opt.Payments != nil {
		rt.api("POST /api/v1/payments", a.postPayments)
	}
	if opt.Gate != nil {
		rt.api("GET /api/v1/compliance/explain", a.explain)
		rt.api("POST /api/v1/dnc", a.importDNC)
		rt.api("GET /api/v1/dnc/{phone}", a.getDNC)
		rt.api("DELETE /api/v1/dnc/{phone}", a.removeDNC)
	}
	if opt.Agents != nil {
		rt.api("POST /api/v1/agents", a.putAgent)
		rt.api("GET /api/v1/agents", a.listAgents)
		rt.api("GET /api/v1/agents/{id}", a.getAgent)
		rt.api("POST /api/v1/agents/{id}/{action}", a.agentAction)
		if opt.Screens != nil {
			rt.stream("GET /api/v1/agents/{id}/events", http.HandlerFunc(a.agentEvents))
		}
		if opt.Previews != nil {
			rt.api("GET /api/v1/agents/{id}/next", a.previewNext)
			rt.api("POST /api/v1/agents/{id}/dial", a.previewDial)
			rt.api("POST /api/v1/agents/{id}/skip", a.previewSkip)
		}
	}
	if opt.Calls != nil {
		rt.api("GET /api/v1/calls/{id}", a.getCall)
		rt.api("POST /api/v1/calls/{id}/{action}", a.callAction)
		rt.api("GET /api/v1/calls/{id}/recording", a.callRecording)
	}
	if opt.Messages != nil {
		rt.api("POST /api/v1/messages", a.postMessage)
		rt.api("GET /api/v1/conversations/{phone}", a.getConversation)
	}
	if opt.KPIs != nil {
		rt.api("GET /api/v1/kpis", a.getKPIs)
		rt.api("GET /api/v1/kpis/best-time", a.getBestTime)
	}
	if opt.TwilioStatus != nil {
		rt.hook("POST /webhooks/twilio/status", opt.TwilioStatus)
	}
	if opt.TwilioInbound != nil {
		rt.hook("POST /webhooks/twilio/inbound", opt.TwilioInbound)
	}
	// Anything else under /api/v1/ is still behind auth, then 404.
	rt.api("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no route %s %s", r.Method, r.URL.Path))
	})
	if opt.Gatherer != nil {
		rt.op("GET /metrics", promhttp.HandlerFor(opt.Gatherer, promhttp.HandlerOpts{}))
	}
	rt.op("GET /healthz", http.HandlerFunc(a.healthz))
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// Ops serves only /metrics and /healthz, for http.metrics_listen.
func (a *API) Ops() http.Handler { return a.ops }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// csvBody says whether a request's body is CSV (true) or JSON (false, also
// when no type is given); for any other type it answers 415 and ok is false.
func csvBody(w http.ResponseWriter, r *http.Request) (csv, ok bool) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "text/csv", "application/csv", "text/plain":
		return true, true
	case "application/json", "":
		return false, true
	}
	writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("content type %q: send text/csv or application/json", mt))
	return false, false
}

// bodyError answers a request whose body could not be read or parsed: 413
// when it passed the size limit, else 400 naming what was being read.
func bodyError(w http.ResponseWriter, what string, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("%s larger than %d bytes", what, mbe.Limit))
		return
	}
	writeError(w, http.StatusBadRequest, what+": "+err.Error())
}

// storeError maps a store error to a status: 404 for what does not exist,
// 400 for an id that cannot exist, else 503 (ours, logged).
func (a *API) storeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, queue.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, queue.ErrInvalidID):
		writeError(w, http.StatusBadRequest, err.Error())
	default:
		a.log.Error("api: store", "err", err)
		writeError(w, http.StatusServiceUnavailable, "storage unavailable; try again")
	}
}

// pathID reads the {id} of a campaign route; for an id no campaign can
// have it answers 400 and ok is false.
func pathID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if err := queue.CheckID(id); err != nil {
		writeFieldError(w, http.StatusBadRequest, &queue.FieldError{Campaign: "", Field: "id", Reason: "in the path: " + err.Error()})
		return "", false
	}
	return id, true
}

// writeFieldError answers {"error","field","reason"} for a *queue.FieldError
// in err, else {"error"}.
func writeFieldError(w http.ResponseWriter, code int, err error) {
	var fe *queue.FieldError
	if errors.As(err, &fe) {
		writeField(w, code, err.Error(), fe.Field, fe.Reason)
		return
	}
	writeError(w, code, err.Error())
}

// writeField answers {"error","field","reason"}: the body of every answer
// that blames one field of the request.
func writeField(w http.ResponseWriter, code int, msg, field, reason string) {
	writeJSON(w, code, map[string]string{"error": msg, "field": field, "reason": reason})
}
