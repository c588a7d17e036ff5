package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/marcador/marcador/dialer/registrar"
)

// Agents are the agents' states and nailed-up legs on this node.
type Agents struct {
	// LeaseTTL is how long a logged-in agent's state outlives the last
	// lease renewal of the node holding its leg; after it any node's
	// reaper logs the agent out (node_lost). Nodes' clocks must agree to
	// well within it.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// TimeZone is where an agent's day starts and ends (calls and talk
	// time of the day).
	TimeZone string `yaml:"time_zone"`
	// RingTimeout bounds how long an agent's phone may take to answer the
	// nailed-up call made at login.
	RingTimeout time.Duration `yaml:"ring_timeout"`
	// RTPTimeout: a leg that receives no RTP for this long is dead.
	RTPTimeout time.Duration `yaml:"rtp_timeout"`
	// KeepAlive is how often an OPTIONS is sent in each leg's dialog (0:
	// none); a phone that does not answer one within KeepAliveTimeout has
	// lost the leg.
	KeepAlive        time.Duration `yaml:"keepalive"`
	KeepAliveTimeout time.Duration `yaml:"keepalive_timeout"`
}

// Registrar is the SIP registrar agents' phones REGISTER with, on
// sip.listen.
type Registrar struct {
	// Realm of the digest challenges. The stored HA1 values depend on it:
	// changing it needs every agent's password set again.
	Realm string `yaml:"realm"`
	// Algorithms challenged, in order of preference (MD5, SHA-256); an
	// agent's own "algorithms" replace them for its phone.
	Algorithms []string `yaml:"algorithms"`
	// NonceTTL is how long a nonce is good for.
	NonceTTL time.Duration `yaml:"nonce_ttl"`
	// MinExpires, MaxExpires and DefaultExpires bound a binding's life.
	MinExpires     time.Duration    `yaml:"min_expires"`
	MaxExpires     time.Duration    `yaml:"max_expires"`
	DefaultExpires time.Duration    `yaml:"default_expires"`
	Lockout        RegistrarLockout `yaml:"lockout"`
}

// RegistrarLockout: within Window, PerSource failures from one IP address or
// PerUser failures for one SIP user lock it out for Duration (-1: no
// limit). Exempt addresses (a SIP proxy in front) are never counted.
type RegistrarLockout struct {
	PerSource int           `yaml:"per_source"`
	PerUser   int           `yaml:"per_user"`
	Window    time.Duration `yaml:"window"`
	Duration  time.Duration `yaml:"duration"`
	Exempt    []string      `yaml:"exempt"` // IP addresses or CIDRs
}

// Recordings is where agent calls are recorded (campaigns with record:
// true): <dir>/<YYYY>/<MM>/<DD>/<attempt id>.wav. Several nodes serve each
// other's recordings when it is shared storage.
type Recordings struct {
	Dir string `yaml:"dir"`
}

func defaultAgents() Agents {
	return Agents{LeaseTTL: 30 * time.Second, TimeZone: "UTC", RingTimeout: 15 * time.Second, RTPTimeout: 20 * time.Second,
		KeepAlive: 10 * time.Second, KeepAliveTimeout: 5 * time.Second}
}

func defaultRegistrar() Registrar {
	return Registrar{Realm: registrar.DefaultRealm, Algorithms: []string{string(registrar.SHA256), string(registrar.MD5)},
		NonceTTL: registrar.DefaultNonceTTL, MinExpires: registrar.DefaultMinExpires, MaxExpires: registrar.DefaultMaxExpires,
		DefaultExpires: registrar.DefaultDefaultExpires,
		Lockout: RegistrarLockout{PerSource: registrar.DefaultFailuresPerSource, PerUser: registrar.DefaultFailuresPerUser,
			Window: registrar.DefaultFailureWindow, Duration: registrar.DefaultLockout}}
}

// AgentsZone is agents.time_zone, loaded (validated with the config).
func (c *Config) AgentsZone() *time.Location {
	z, err := time.LoadLocation(c.Agents.TimeZone)
	if err != nil {
		return time.UTC
	}
	return z
}

// RegistrarAlgorithms is registrar.algorithms as the registrar names them.
func (c *Config) RegistrarAlgorithms() []registrar.Algorithm {
	out := make([]registrar.Algorithm, 0, len(c.Registrar.Algorithms))
	for _, a := range c.Registrar.Algorithms {
		alg, _ := registrar.ParseAlgorithm(a) // validated with the config
		out = append(out, alg)
	}
	return out
}

// RegistrarExempt is registrar.lockout.exempt as prefixes.
func (c *Config) RegistrarExempt() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(c.Registrar.Lockout.Exempt))
	for _, s := range c.Registrar.Lockout.Exempt {
		if p, err := parsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func between(key string, v, lo, hi time.Duration) error {
	if v < lo || v > hi {
		return fmt.Errorf("%s %s: want %s-%s", key, v, lo, hi)
	}
	return nil
}

func (c *Config) validateAgents() error {
	if strings.TrimSpace(c.Recordings.Dir) == "" {
		return fmt.Errorf("recordings.dir: empty")
	}
	a := c.Agents
	for _, d := range []struct {
		key    string
		v      time.Duration
		lo, hi time.Duration
	}{
		{"agents.lease_ttl", a.LeaseTTL, 3 * time.Second, 10 * time.Minute},
		{"agents.ring_timeout", a.RingTimeout, time.Second, 2 * time.Minute},
		{"agents.rtp_timeout", a.RTPTimeout, 2 * time.Second, 10 * time.Minute},
		{"agents.keepalive_timeout", a.KeepAliveTimeout, 100 * time.Millisecond, time.Minute},
	} {
		if err := between(d.key, d.v, d.lo, d.hi); err != nil {
			return err
		}
	}
	if a.KeepAlive != 0 {
		if err := between("agents.keepalive", a.KeepAlive, time.Second, 10*time.Minute); err != nil {
			return fmt.Errorf("%w (or 0s: none)", err)
		}
		if a.KeepAliveTimeout >= a.KeepAlive {
			return fmt.Errorf("agents.keepalive_timeout %s: not below agents.keepalive %s", a.KeepAliveTimeout, a.KeepAlive)
		}
	}
	if z := a.TimeZone; z == "" || z == "Local" {
		return fmt.Errorf("agents.time_zone %q: want an IANA zone such as America/Bogota, or UTC", z)
	} else if _, err := time.LoadLocation(z); err != nil {
		return fmt.Errorf("agents.time_zone %q: %w", z, err)
	}
	return nil
}

func (c *Config) validateRegistrar() error {
	r := c.Registrar
	if r.Realm == "" || len(r.Realm) > 128 || strings.ContainsAny(r.Realm, "\"\\\r\n") {
		return fmt.Errorf("registrar.realm %q: 1-128 characters, no quotes, backslashes or line breaks", r.Realm)
	}
	if len(r.Algorithms) == 0 {
		return fmt.Errorf("registrar.algorithms: empty; list MD5 and/or SHA-256")
	}
	seen := map[registrar.Algorithm]bool{}
	for i, s := range r.Algorithms {
		alg, err := registrar.ParseAlgorithm(s)
		if err != nil || s == "" {
			return fmt.Errorf("registrar.algorithms[%d] %q: want MD5 or SHA-256", i, s)
		}
		if seen[alg] {
			return fmt.Errorf("registrar.algorithms[%d] %q: listed twice", i, s)
		}
		seen[alg] = true
	}
	if err := between("registrar.nonce_ttl", r.NonceTTL, 10*time.Second, time.Hour); err != nil {
		return err
	}
	if err := between("registrar.min_expires", r.MinExpires, 10*time.Second, time.Hour); err != nil {
		return err
	}
	if err := between("registrar.max_expires", r.MaxExpires, r.MinExpires, 24*time.Hour); err != nil {
		return fmt.Errorf("%w (not below registrar.min_expires)", err)
	}
	if err := between("registrar.default_expires", r.DefaultExpires, r.MinExpires, r.MaxExpires); err != nil {
		return fmt.Errorf("%w (registrar.min_expires to registrar.max_expires)", err)
	}
	l := r.Lockout
	for _, n := range []struct {
		key string
		v   int
	}{{"per_source", l.PerSource}, {"per_user", l.PerUser}} {
		if n.v == 0 || n.v < -1 || n.v > 100000 {
			return fmt.Errorf("registrar.lockout.%s %d: want 1-100000 failures, or -1 for no limit", n.key, n.v)
		}
	}
	if err := between("registrar.lockout.window", l.Window, time.Second, 24*time.Hour); err != nil {
		return err
	}
	if err := between("registrar.lockout.duration", l.Duration, time.Second, 24*time.Hour); err != nil {
		return err
	}
	for i, s := range l.Exempt {
		if _, err := parsePrefix(s); err != nil {
			return fmt.Errorf("registrar.lockout.exempt[%d] %q: want an IP address or a CIDR", i, s)
		}
	}
	return nil
}
