package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/ivr/script"
)

var nodeIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// dbNameRe is a ClickHouse database name the queries may splice in.
var dbNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// Validate checks every key; the error starts with the key's dotted name.
func (c *Config) Validate() error {
	if !nodeIDRe.MatchString(c.NodeID) {
		return fmt.Errorf("node_id %q: 1-64 of A-Z a-z 0-9 _ . -", c.NodeID)
	}
	for _, validate := range []func() error{c.validateRedis, c.validateClickHouse, c.validateSpool, c.validateHTTP,
		c.validateLog, c.validateInbound, c.validatePayLinks, c.validateTwilio, c.validateAgents, c.validateRegistrar, c.validateSIP, c.validateKPI} {
		if err := validate(); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) validateRedis() error {
	r := c.Redis
	switch {
	case r.Addr == "" && len(r.Addrs) == 0:
		return errors.New("redis.addr: empty (set addr, or addrs for Cluster/Sentinel)")
	case r.MasterName != "" && len(r.Addrs) == 0:
		return errors.New("redis.master_name: Sentinel needs redis.addrs (the sentinels)")
	case r.DB < 0 || r.DB > 15:
		return fmt.Errorf("redis.db %d: want 0-15", r.DB)
	case r.DB != 0 && len(r.Addrs) > 1 && r.MasterName == "":
		return errors.New("redis.db: Redis Cluster has only db 0")
	}
	if len(r.Addrs) == 0 {
		if err := hostPort(r.Addr); err != nil {
			return fmt.Errorf("redis.addr: %w", err)
		}
	}
	for i, a := range r.Addrs {
		if err := hostPort(a); err != nil {
			return fmt.Errorf("redis.addrs[%d]: %w", i, err)
		}
	}
	return nil
}

func (c *Config) validateClickHouse() error {
	if err := hostPort(c.ClickHouse.Addr); err != nil {
		return fmt.Errorf("clickhouse.addr: %w", err)
	}
	if !dbNameRe.MatchString(c.ClickHouse.Database) {
		return fmt.Errorf("clickhouse.database %q: letters, digits and _", c.ClickHouse.Database)
	}
	if c.ClickHouse.Username == "" {
		return errors.New("clickhouse.username: empty")
	}
	return nil
}

func (c *Config) validateSpool() error {
	s := c.Spool
	switch {
	case s.Dir == "":
		return errors.New("spool.dir: empty")
	case s.MaxBytes < 1<<20:
		return fmt.Errorf("spool.max_bytes %d: at least 1MiB", s.MaxBytes)
	case s.BatchRows < 1 || s.BatchRows > 1_000_000:
		return fmt.Errorf("spool.batch_rows %d: want 1-1000000", s.BatchRows)
	case s.FlushInterval < 10*time.Millisecond || s.FlushInterval > time.Minute:
		return fmt.Errorf("spool.flush_interval %s: want 10ms-1m", s.FlushInterval)
	case s.MaxLag < 10*time.Second || s.MaxLag > 24*time.Hour:
		return fmt.Errorf("spool.max_lag %s: want 10s-24h", s.MaxLag)
	}
	switch strings.ToLower(s.Fsync) {
	case "always", "batch", "never":
	default:
		return fmt.Errorf("spool.fsync %q: want always, batch or never", s.Fsync)
	}
	return nil
}

func (c *Config) validateLog() error {
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level %q: want debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fmt.Errorf("log.format %q: want text or json", c.Log.Format)
	}
	return nil
}

func (c *Config) validateInbound() error {
	in := c.IVR.Inbound
	switch in.Language {
	case "", "es", "en":
	default:
		return fmt.Errorf("ivr.inbound.language %q: want es or en", in.Language)
	}
	if cc := in.Country; cc != "" && (len(cc) != 2 || strings.ToUpper(cc) != cc) {
		return fmt.Errorf("ivr.inbound.country %q: want a two-letter region code such as MX", cc)
	}
	if _, ok := script.VerifyPhrase(in.Verify); !ok {
		return fmt.Errorf("ivr.inbound.verify %q: want national_id_last4, birth_date or account_number", in.Verify)
	}
	for _, l := range []struct {
		key string
		n   int
	}{{"per_number", in.Lockout.PerNumber}, {"per_source", in.Lockout.PerSource}} {
		if l.n == 0 || l.n < -1 || l.n > 100000 {
			return fmt.Errorf("ivr.inbound.lockout.%s %d: want 1-100000 failures, or -1 for no limit", l.key, l.n)
		}
	}
	if w := in.Lockout.Window; w < time.Minute || w > 7*24*time.Hour {
		return fmt.Errorf("ivr.inbound.lockout.window %s: want 1m-168h", w)
	}
	if n := in.MaxCalls; n < 1 || n > 100000 {
		return fmt.Errorf("ivr.inbound.max_calls %d: want 1-100000", n)
	}
	return nil
}

func (c *Config) validatePayLinks() error {
	if s := c.PayLinks.Secret; s != "" && len(s) < 16 {
		return errors.New("paylinks.secret: shorter than 16 characters")
	}
	if c.PayLinks.TTL < 0 {
		return errors.New("paylinks.ttl: negative")
	}
	return nil
}

func (c *Config) validateHTTP() error {
	if err := hostPort(c.HTTP.Listen); err != nil {
		return fmt.Errorf("http.listen: %w", err)
	}
	for i, t := range c.HTTP.APITokens {
		if len(t) < 16 {
			return fmt.Errorf("http.api_tokens[%d]: shorter than 16 characters", i)
		}
	}
	h := c.HTTP
	if t := h.MetricsToken; t != "" && len(t) < 16 {
		return errors.New("http.metrics_token: shorter than 16 characters")
	}
	if h.MetricsListen != "" {
		if err := hostPort(h.MetricsListen); err != nil {
			return fmt.Errorf("http.metrics_listen: %w", err)
		}
		if h.MetricsListen == h.Listen {
			return fmt.Errorf("http.metrics_listen %q: the same address as http.listen", h.MetricsListen)
		}
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"read_header_timeout", h.ReadHeaderTimeout}, {"read_timeout", h.ReadTimeout}, {"write_timeout", h.WriteTimeout},
		{"idle_timeout", h.IdleTimeout}} {
		if d.v < 100*time.Millisecond || d.v > time.Hour {
			return fmt.Errorf("http.%s %s: want 100ms-1h", d.key, d.v)
		}
	}
	if h.ReadHeaderTimeout > h.ReadTimeout {
		return fmt.Errorf("http.read_header_timeout %s: longer than http.read_timeout %s", h.ReadHeaderTimeout, h.ReadTimeout)
	}
	return nil
}

func (c *Config) validateTwilio() error {
	s := c.SMS
	switch {
	case s.Rate < 0 || s.Rate > 1000:
		return fmt.Errorf("sms.rate %g: want 0-1000 messages a second (0 for the default, 1)", s.Rate)
	case s.Tries < 0 || s.Tries > 20:
		return fmt.Errorf("sms.tries %d: want 0-20", s.Tries)
	case s.Backoff < 0 || s.Backoff > time.Minute:
		return fmt.Errorf("sms.backoff %s: want 0-1m", s.Backoff)
	}
	t := c.Twilio
	if t.AccountSID == "" {
		return nil
	}
	if !regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`).MatchString(t.AccountSID) {
		return fmt.Errorf("twilio.account_sid %q: want AC followed by 32 hex digits", t.AccountSID)
	}
	if t.AuthToken == "" {
		return errors.New("twilio.auth_token: empty (set it here or in MARCADOR_TWILIO_AUTH_TOKEN)")
	}
	if t.From == "" && t.MessagingServiceSID == "" && t.WhatsAppFrom == "" {
		return errors.New("twilio: set from, messaging_service_sid or whatsapp_from")
	}
	for key, n := range map[string]string{"from": t.From, "whatsapp_from": t.WhatsAppFrom} {
		if n != "" && !regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`).MatchString(n) {
			return fmt.Errorf("twilio.%s %q: want an E.164 number such as +15005550006", key, n)
		}
	}
	if m := t.MessagingServiceSID; m != "" && !regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`).MatchString(m) {
		return fmt.Errorf("twilio.messaging_service_sid %q: want MG followed by 32 hex digits", m)
	}
	for key, u := range map[string]string{"public_url": t.PublicURL, "api_url": t.APIURL} {
		if u == "" {
			continue
		}
		p, err := url.Parse(u)
		if err != nil || p.Host == "" || (p.Scheme != "http" && p.Scheme != "https") {
			return fmt.Errorf("twilio.%s %q: want http(s)://host[:port][/path]", key, u)
		}
	}
	if t.PublicURL == "" {
		return errors.New("twilio.public_url: empty; Twilio needs it to call back with delivery status and replies")
	}
	return nil
}

func (c *Config) validateSIP() error {
	if err := hostPort(c.SIP.Listen); err != nil {
		return fmt.Errorf("sip.listen: %w", err)
	}
	if c.SIP.RTPAddr != "" {
		if _, err := netip.ParseAddr(c.SIP.RTPAddr); err != nil {
			return fmt.Errorf("sip.rtp_addr %q: want an IP address", c.SIP.RTPAddr)
		}
	}
	if err := c.RTPPorts().Validate(); err != nil {
		return fmt.Errorf("sip.rtp_ports: %w", err)
	}
	if n := c.SIP.RTPSockets; n < 0 || n > 64 || n >= c.RTPPorts().Even() {
		return fmt.Errorf("sip.rtp_sockets %d: want 0 (a socket per call) to 64, fewer than the %d RTP ports in sip.rtp_ports", n, c.RTPPorts().Even())
	}
	if r, n := c.SIP.RTPPorts.ReserveOutbound, c.RTPPorts().Even(); r < 0 || r >= n {
		return fmt.Errorf("sip.rtp_ports.reserve_outbound %d: want 0 (half) to %d; the range holds %d RTP ports and inbound calls need one",
			r, n-1, n)
	}
	names := map[string]bool{}
	for i := range c.Compliance.Profiles {
		p := &c.Compliance.Profiles[i]
		if names[p.Name] {
			return fmt.Errorf("compliance.profiles[%d].name %q: used twice", i, p.Name)
		}
		names[p.Name] = true
		if err := p.Compile(); err != nil {
			return fmt.Errorf("compliance.profiles[%d]: %w", i, err)
		}
	}
	seen := map[string]bool{}
	for i, t := range c.Trunks {
		if t.Name == "" {
			return fmt.Errorf("trunks[%d].name: empty", i)
		}
		if seen[t.Name] {
			return fmt.Errorf("trunks[%d].name %q: used twice", i, t.Name)
		}
		seen[t.Name] = true
		if _, err := dialer.NewTrunk(t); err != nil {
			return err
		}
	}
	return nil
}

func hostPort(a string) error {
	_, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%q: want host:port", a)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%q: bad port", a)
	}
	return nil
}
