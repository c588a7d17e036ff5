package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// client calls the node's API as an operator's tool would.
type client struct {
	base  string // e.g. http://127.0.0.1:8080/api/v1
	token string
}

// do sends a request and decodes a JSON answer into out. An answer whose
// status is not one of ok is an error naming the request, the status and
// the error the API gave (or the start of the body when it gave none).
func (c *client) do(ctx context.Context, method, path, ctype string, body []byte, out any, ok ...int) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: HTTP %d, body unreadable: %w", method, path, resp.StatusCode, err)
	}
	if len(ok) == 0 {
		ok = []int{http.StatusOK}
	}
	for _, code := range ok {
		if resp.StatusCode != code {
			continue
		}
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: HTTP %d, answer not JSON: %w", method, path, resp.StatusCode, err)
		}
		return nil
	}
	return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, apiError(b))
}

// apiError is what an error answer says: its "error", else the start of
// the body.
func apiError(body []byte) string {
	var e struct{ Error string }
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	s := strings.TrimSpace(string(body))
	if s == "" {
		return "(empty body)"
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
