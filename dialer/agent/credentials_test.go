package agent

import (
	"errors"
	"slices"
	"testing"

	"github.com/marcador/marcador/dialer/registrar"
)

// The registrar reads the pool's HA1 values and each agent's algorithms;
// an unknown user and credentials made for another realm are told apart as
// the registrar wants. Algorithms are checked and written as SIP names
// them.
func TestRegistrarCredentials(t *testing.T) {
	e := newEnv(t)
	c := e.campaign()
	id := "a-" + rnd()
	e.forget(id)
	d := Definition{ID: id, SIPUser: "u-" + id, Password: testPassword, Campaigns: []string{c}, Algorithms: []string{"md5", "MD5", " sha-256"}}
	a, _, err := e.p.Put(e.ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Algorithms, []string{"MD5", "SHA-256"}) {
		t.Fatalf("algorithms stored %v", a.Algorithms)
	}
	creds := e.p.RegistrarCredentials()
	for _, alg := range []registrar.Algorithm{registrar.MD5, registrar.SHA256} {
		h, agent, err := creds.HA1(e.ctx, d.SIPUser, e.p.Realm(), alg)
		if err != nil || agent != id || h != registrar.HA1(alg, d.SIPUser, e.p.Realm(), testPassword) {
			t.Errorf("%s: %q %q %v", alg, h, agent, err)
		}
	}
	if _, _, err := creds.HA1(e.ctx, "nobody-"+rnd(), e.p.Realm(), registrar.MD5); !errors.Is(err, registrar.ErrUnknownUser) {
		t.Errorf("unknown user: %v", err)
	}
	if _, _, err := creds.HA1(e.ctx, d.SIPUser, "another-realm", registrar.MD5); !errors.Is(err, registrar.ErrNoHA1) {
		t.Errorf("another realm: %v", err)
	}
	algs, err := creds.(registrar.AlgorithmChooser).Algorithms(e.ctx, d.SIPUser, e.p.Realm())
	if err != nil || !slices.Equal(algs, []registrar.Algorithm{registrar.MD5, registrar.SHA256}) {
		t.Fatalf("algorithms %v %v", algs, err)
	}
	// An update without algorithms goes back to the registrar's.
	d.Algorithms, d.Password = nil, ""
	if a, _, err = e.p.Put(e.ctx, d); err != nil || a.Algorithms == nil || len(a.Algorithms) != 0 {
		t.Fatalf("update: %+v %v", a, err)
	}
	if algs, _ := creds.(registrar.AlgorithmChooser).Algorithms(e.ctx, d.SIPUser, e.p.Realm()); len(algs) != 0 {
		t.Fatalf("algorithms after the update %v", algs)
	}
	d.Algorithms = []string{"MD5", "SHA-1"}
	_, _, err = e.p.Put(e.ctx, d)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "algorithms[1]" {
		t.Fatalf("SHA-1: %v", err)
	}
}
