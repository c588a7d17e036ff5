package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/epoch"
	"github.com/marcador/marcador/queue/phone"
	"github.com/marcador/marcador/sms"
)

// Messages sends texts and reads conversations (sms.Sender).
type Messages interface {
	Send(ctx context.Context, req sms.Request) (sms.Result, error)
	Conversation(ctx context.Context, phone string) ([]sms.ConversationEntry, error)
}

// postMessage takes POST /api/v1/messages: {"key", "campaign", "account",
// "template", "channel", "phone"}; it sends now and answers what happened.
// A phone that is not one of the account's, or a template that does not
// exist, is 422: nothing is sent or recorded.
// The key makes it idempotent: a client that retries after a timeout gets
// "duplicate" and the debtor one text.
func (a *API) postMessage(w http.ResponseWriter, r *http.Request) {
	var req sms.Request
	if !decodeJSON(w, r, maxMessageBody, "message body", &req) {
		return
	}
	if req.Key == "" {
		writeError(w, http.StatusBadRequest, "key is required: it makes a retried request safe (one text per key)")
		return
	}
	req.Deferrals = 0
	res, err := a.opt.Messages.Send(r.Context(), req)
	switch {
	case errors.Is(err, queue.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
		return
	case errors.Is(err, sms.ErrInvalidRequest):
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case errors.Is(err, epoch.ErrDataLost):
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	case errors.Is(err, sms.ErrRefused):
		// A phone that is not the account's, a template that does not exist.
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	case err != nil:
		a.log.Error("api: message not sent", "key", req.Key, "err", err)
		writeError(w, http.StatusInternalServerError, "not sent: "+err.Error())
		return
	}
	code := http.StatusOK
	if res.Outcome == sms.Sent {
		code = http.StatusCreated
	}
	writeJSON(w, code, res)
}

// getConversation takes GET /api/v1/conversations/{phone}: the texts
// exchanged with a number, oldest first.
func (a *API) getConversation(w http.ResponseWriter, r *http.Request) {
	p, err := phone.Normalize(r.PathValue("phone"), r.URL.Query().Get("country"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	c, err := a.opt.Messages.Conversation(r.Context(), p)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"phone": p, "messages": c})
}
