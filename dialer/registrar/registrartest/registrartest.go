// Package registrartest gives tests an in-memory credentials store for the
// registrar (the agent pool is the real one).
package registrartest

import (
	"context"
	"fmt"
	"sync"

	"github.com/marcador/marcador/dialer/registrar"
)

// Credentials is an in-memory registrar.Credentials and
// registrar.AlgorithmChooser. Safe for concurrent use.
type Credentials struct {
	mu    sync.Mutex
	users map[string]user
}

type user struct {
	agent string
	realm string
	ha1   map[registrar.Algorithm]string
	algs  []registrar.Algorithm
}

// NewCredentials returns an empty store.
func NewCredentials() *Credentials { return &Credentials{users: map[string]user{}} }

// Add stores the HA1s of a SIP user's password for realm, as the agent pool
// does when a password is set, and the algorithms its phone is offered
// (none: the registrar's defaults).
func (c *Credentials) Add(sipUser, password, realm, agentID string, offer ...registrar.Algorithm) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.users[sipUser] = user{agent: agentID, realm: realm, algs: offer, ha1: map[registrar.Algorithm]string{
		registrar.MD5:    registrar.HA1(registrar.MD5, sipUser, realm, password),
		registrar.SHA256: registrar.HA1(registrar.SHA256, sipUser, realm, password),
	}}
}

// HA1 implements registrar.Credentials.
func (c *Credentials) HA1(_ context.Context, sipUser, realm string, alg registrar.Algorithm) (string, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	u, ok := c.users[sipUser]
	if !ok {
		return "", "", fmt.Errorf("sip user %q: %w", sipUser, registrar.ErrUnknownUser)
	}
	h, ok := u.ha1[alg]
	if !ok || realm != u.realm {
		return "", "", fmt.Errorf("sip user %q, %s: %w", sipUser, alg, registrar.ErrNoHA1)
	}
	return h, u.agent, nil
}

// Algorithms implements registrar.AlgorithmChooser.
func (c *Credentials) Algorithms(_ context.Context, sipUser, _ string) ([]registrar.Algorithm, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	u, ok := c.users[sipUser]
	if !ok {
		return nil, fmt.Errorf("sip user %q: %w", sipUser, registrar.ErrUnknownUser)
	}
	return u.algs, nil
}
