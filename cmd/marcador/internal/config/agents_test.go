package config

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/marcador/marcador/dialer/registrar"
)

func TestAgentsAndRegistrar(t *testing.T) {
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Agents != defaultAgents() || c.Registrar.Realm != "marcador" ||
		!slices.Equal(c.RegistrarAlgorithms(), []registrar.Algorithm{registrar.SHA256, registrar.MD5}) || c.AgentsZone() != time.UTC {
		t.Fatalf("defaults %+v %+v", c.Agents, c.Registrar)
	}
	c, err = Load(write(t, `
agents: {lease_ttl: 1m, time_zone: America/Bogota, keepalive: 0s}
registrar: {realm: cobranza.example, algorithms: [md5], lockout: {per_user: -1, exempt: [10.0.0.5, 192.168.0.0/16]}}
`), []string{"MARCADOR_REGISTRAR_NONCE_TTL=2m", "MARCADOR_REGISTRAR_ALGORITHMS=MD5,SHA-256"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Agents.LeaseTTL != time.Minute || c.AgentsZone().String() != "America/Bogota" || c.Agents.KeepAlive != 0 ||
		c.Registrar.Realm != "cobranza.example" || c.Registrar.NonceTTL != 2*time.Minute ||
		!slices.Equal(c.RegistrarAlgorithms(), []registrar.Algorithm{registrar.MD5, registrar.SHA256}) ||
		c.Registrar.Lockout.PerUser != -1 || c.Registrar.Lockout.PerSource != 20 ||
		!slices.Equal(c.RegistrarExempt(), []netip.Prefix{netip.MustParsePrefix("10.0.0.5/32"), netip.MustParsePrefix("192.168.0.0/16")}) {
		t.Fatalf("loaded %+v %+v", c.Agents, c.Registrar)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"agents: {lease_ttl: 1s}", "agents.lease_ttl"},
		{"agents: {time_zone: Local}", "agents.time_zone"},
		{"agents: {time_zone: Mars/Olympus}", "agents.time_zone"},
		{"agents: {keepalive: 2s, keepalive_timeout: 2s}", "agents.keepalive_timeout"},
		{"agents: {keepalive: 100ms}", "agents.keepalive"},
		{"agents: {rtp_timeout: 1s}", "agents.rtp_timeout"},
		{"registrar: {realm: 'a\"b'}", "registrar.realm"},
		{"registrar: {algorithms: []}", "registrar.algorithms: empty"},
		{"registrar: {algorithms: [SHA-512]}", "registrar.algorithms[0]"},
		{"registrar: {algorithms: [MD5, md5]}", "registrar.algorithms[1]"},
		{"registrar: {min_expires: 5m, max_expires: 1m}", "registrar.max_expires"},
		{"registrar: {default_expires: 2h}", "registrar.default_expires"},
		{"registrar: {nonce_ttl: 1s}", "registrar.nonce_ttl"},
		{"registrar: {lockout: {per_user: 0}}", "registrar.lockout.per_user"},
		{"registrar: {lockout: {exempt: [somewhere]}}", "registrar.lockout.exempt[0]"},
	} {
		if _, err := Load(write(t, tc.yaml), nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want mention of %q", tc.yaml, err, tc.want)
		}
	}
}
