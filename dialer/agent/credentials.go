package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/marcador/marcador/dialer/registrar"
)

// RegistrarCredentials is the pool as the registrar's credentials store
// (registrar.Credentials and registrar.AlgorithmChooser): the HA1 values
// Put kept for each agent's SIP user, and the algorithms its definition
// asks its phone to be challenged with.
func (p *Pool) RegistrarCredentials() registrar.Credentials { return registrarCreds{p} }

type registrarCreds struct{ p *Pool }

// HA1 implements registrar.Credentials.
func (c registrarCreds) HA1(ctx context.Context, user, realm string, alg registrar.Algorithm) (string, string, error) {
	cr, err := c.p.Credentials(ctx, user)
	if errors.Is(err, ErrNotFound) {
		return "", "", fmt.Errorf("%w: %w", registrar.ErrUnknownUser, err)
	}
	if err != nil {
		return "", "", err
	}
	if cr.Realm != realm {
		// Made for another realm (the realm was changed since): useless
		// until the password is set again.
		return "", cr.Agent, fmt.Errorf("sip user %s: credentials are for realm %q, not %q: %w", user, cr.Realm, realm, registrar.ErrNoHA1)
	}
	h := cr.HA1MD5
	if alg == registrar.SHA256 {
		h = cr.HA1SHA256
	}
	if h == "" {
		return "", cr.Agent, fmt.Errorf("sip user %s, %s: %w", user, alg, registrar.ErrNoHA1)
	}
	return h, cr.Agent, nil
}

// Algorithms implements registrar.AlgorithmChooser: the agent's
// Definition.Algorithms (none: the registrar's own).
func (c registrarCreds) Algorithms(ctx context.Context, user, _ string) ([]registrar.Algorithm, error) {
	a, err := c.p.BySIPUser(ctx, user)
	if err != nil {
		return nil, err
	}
	out := make([]registrar.Algorithm, len(a.Algorithms))
	for i, s := range a.Algorithms {
		out[i] = registrar.Algorithm(s)
	}
	return out, nil
}
