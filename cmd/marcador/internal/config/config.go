// Package config reads marcador's YAML configuration, applies MARCADOR_*
// environment overrides and validates it, failing on the first bad key with
// the key's name and the reason. Every key has a default that works on one
// machine with Redis on 127.0.0.1:6379 and ClickHouse on 127.0.0.1:9000.
package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"go.yaml.in/yaml/v3"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/kpi"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/ivr/script"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
)

// Config is the whole file.
type Config struct {
	NodeID     string     `yaml:"node_id"`
	Redis      Redis      `yaml:"redis"`
	ClickHouse ClickHouse `yaml:"clickhouse"`
	Spool      Spool      `yaml:"spool"`
	HTTP       HTTP       `yaml:"http"`
	Log        Log        `yaml:"log"`
	SIP        SIP        `yaml:"sip"`
	// Trunks are set in the file only (no environment override).
	Trunks     []dialer.TrunkConfig `yaml:"trunks"`
	Compliance Compliance           `yaml:"compliance"`
	IVR        IVR                  `yaml:"ivr"`
	PayLinks   PayLinks             `yaml:"paylinks"`
	Twilio     Twilio               `yaml:"twilio"`
	SMS        SMS                  `yaml:"sms"`
	KPI        KPI                  `yaml:"kpi"`
}

// KPI tunes the managers' analytics (analytics/kpi, marcador report, GET
// /api/v1/kpis).
type KPI struct {
	// AttributionDays: a payment is recovered by the account's latest touch
	// at most this many days before it. Default 7.
	AttributionDays int `yaml:"attribution_days"`
	// Refresh is how often serve brings the roll-ups up to date for the
	// dashboards that read them directly (the API and report always do it
	// first). Default 1m.
	Refresh time.Duration `yaml:"refresh"`
	Costs   Costs         `yaml:"costs"`
}

// Costs are what calls and texts cost, in Currency; without prices the
// cost KPIs are left out.
type Costs struct {
	Currency           string               `yaml:"currency"`
	Trunks             map[string]TrunkCost `yaml:"trunks"` // by trunk name (file only)
	SMSPerSegment      float64              `yaml:"sms_per_segment"`
	WhatsAppPerMessage float64              `yaml:"whatsapp_per_message"`
}

// TrunkCost is a trunk's prices: per call placed, and per minute billed by
// the second.
type TrunkCost struct {
	PerCall   float64 `yaml:"per_call"`
	PerMinute float64 `yaml:"per_minute"`
}

// Options are k as analytics/kpi takes them.
func (k KPI) Options() kpi.Options {
	c := kpi.Costs{Currency: k.Costs.Currency, SMSPerSegment: decimal.NewFromFloat(k.Costs.SMSPerSegment),
		WhatsAppPerMessage: decimal.NewFromFloat(k.Costs.WhatsAppPerMessage)}
	for name, t := range k.Costs.Trunks {
		if c.Trunks == nil {
			c.Trunks = map[string]kpi.TrunkCost{}
		}
		c.Trunks[name] = kpi.TrunkCost{PerCall: decimal.NewFromFloat(t.PerCall), PerMinute: decimal.NewFromFloat(t.PerMinute)}
	}
	return kpi.Options{AttributionDays: k.AttributionDays, Costs: c}
}

func (c *Config) validateKPI() error {
	k := &c.KPI
	if k.AttributionDays == 0 {
		k.AttributionDays = kpi.DefaultAttributionDays
	}
	if k.Refresh == 0 {
		k.Refresh = time.Minute
	}
	switch {
	case k.AttributionDays < 1 || k.AttributionDays > 90:
		return fmt.Errorf("kpi.attribution_days %d: want 1-90", k.AttributionDays)
	case k.Refresh < 5*time.Second || k.Refresh > 24*time.Hour:
		return fmt.Errorf("kpi.refresh %s: want 5s-24h", k.Refresh)
	}
	co := k.Costs
	prices := map[string]float64{"sms_per_segment": co.SMSPerSegment, "whatsapp_per_message": co.WhatsAppPerMessage}
	for name, t := range co.Trunks {
		prices["trunks."+name+".per_call"], prices["trunks."+name+".per_minute"] = t.PerCall, t.PerMinute
	}
	priced := false
	for key, v := range prices {
		if v < 0 || v > 1000 {
			return fmt.Errorf("kpi.costs.%s %g: want 0-1000", key, v)
		}
		priced = priced || v > 0
	}
	if priced && !analytics.ValidCurrency(co.Currency) {
		return fmt.Errorf("kpi.costs.currency %q: want the ISO 4217 code the prices are in", co.Currency)
	}
	return nil
}

// Twilio is the SMS and WhatsApp provider; texting is off without an
// account_sid.
type Twilio struct {
	AccountSID          string `yaml:"account_sid"`
	AuthToken           string `yaml:"auth_token"`
	From                string `yaml:"from"`                  // E.164 SMS sender
	MessagingServiceSID string `yaml:"messaging_service_sid"` // MG...; preferred over from
	WhatsAppFrom        string `yaml:"whatsapp_from"`         // E.164 WhatsApp sender
	// PublicURL is the base URL Twilio calls back (status callbacks,
	// inbound), e.g. https://dialer.example.com; webhook signatures are
	// computed over it.
	PublicURL string `yaml:"public_url"`
	// APIURL sends API requests elsewhere (a local Twilio-compatible
	// server); default Twilio's own.
	APIURL string `yaml:"api_url"`
}

// SMS tunes how messages are sent.
type SMS struct {
	TemplatesDir string        `yaml:"templates_dir"` // <lang>.yaml files whose templates replace shipped ones by name
	Rate         float64       `yaml:"rate"`          // messages per second per sender, across nodes; default 1
	Tries        int           `yaml:"tries"`         // requests per message on 429/5xx; default 4
	Backoff      time.Duration `yaml:"backoff"`       // first retry's wait, doubled each time; default 1s
}

// IVR says where scripts and recordings come from, besides the shipped ones.
type IVR struct {
	ScriptsDir string  `yaml:"scripts_dir"` // *.yaml scripts; one named like a shipped script replaces it
	PromptsDir string  `yaml:"prompts_dir"` // studio recordings, same names as ivr/prompts (es/p/..., es/w/...)
	Inbound    Inbound `yaml:"inbound"`
}

// Inbound is the callback line: calls reaching sip.listen for one of
// Numbers (all when empty) hear Script.
type Inbound struct {
	Numbers  []string `yaml:"numbers"`  // called numbers (Request-URI user) to answer
	Script   string   `yaml:"script"`   // default inbound-callback
	Language string   `yaml:"language"` // es or en, for callers not known by caller id; default es
	Country  string   `yaml:"country"`  // region for caller ids in national format, e.g. MX
	Campaign string   `yaml:"campaign"` // where unidentified callers are recorded; default inbound
	// MaxCalls bounds the callback line's calls at once on this node;
	// beyond it callers get 486 Busy Here. Default 50.
	MaxCalls int `yaml:"max_calls"`
	// Verify is what callers key to prove who they are before hearing
	// anything about an account: national_id_last4, birth_date or account_number.
	Verify  string  `yaml:"verify"`
	Lockout Lockout `yaml:"lockout"`
}

// Lockout bounds failed identifications on the callback line, across calls
// and nodes; -1 is no limit.
type Lockout struct {
	PerNumber int           `yaml:"per_number"` // per calling number; default 5
	PerSource int           `yaml:"per_source"` // per SIP source address; default 20
	Window    time.Duration `yaml:"window"`     // default 1h
}

// PayLinks signs payment-link tokens.
type PayLinks struct {
	Secret string        `yaml:"secret"` // HMAC key, at least 16 characters; links are off without it
	TTL    time.Duration `yaml:"ttl"`
}

// Compliance adds to the shipped profiles and holiday calendars.
type Compliance struct {
	// HolidaysDir holds extra holiday files (<country>-<year>.yaml), e.g.
	// next year's, loaded after the shipped ones.
	HolidaysDir string `yaml:"holidays_dir"`
	// Profiles are custom profiles (file only); one named like a shipped
	// profile replaces it.
	Profiles []compliance.Profile `yaml:"profiles"`
}

// Profiles returns the shipped profiles with the configured ones applied.
func (c *Config) Profiles() map[string]*compliance.Profile {
	ps := compliance.Builtin()
	for i := range c.Compliance.Profiles {
		p := c.Compliance.Profiles[i]
		ps[p.Name] = &p
	}
	return ps
}

// SIP is where this node speaks SIP (UDP) and RTP.
type SIP struct {
	Listen     string `yaml:"listen"`      // host:port for SIP over UDP
	PublicAddr string `yaml:"public_addr"` // host[:port] in Via/Contact when behind NAT; default the listen address
	RTPAddr    string `yaml:"rtp_addr"`    // IP that RTP binds and SDP advertises; default the SIP IP
	RTPPorts   Ports  `yaml:"rtp_ports"`
}

// Ports is an inclusive UDP port range.
type Ports struct {
	Min int `yaml:"min"`
	Max int `yaml:"max"`
	// ReserveOutbound is how many RTP ports (one a call) at the top of the
	// range inbound calls never take, so a flood of INVITEs cannot leave
	// outbound dialing without a port. 0 is half the range.
	ReserveOutbound int `yaml:"reserve_outbound"`
}

// Trunk returns the trunk called name.
func (c *Config) Trunk(name string) (*dialer.Trunk, error) {
	var names []string
	for _, t := range c.Trunks {
		if t.Name == name {
			return dialer.NewTrunk(t)
		}
		names = append(names, t.Name)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("trunk %q: the config has no trunks: section", name)
	}
	return nil, fmt.Errorf("trunk %q: not in the config (have: %s)", name, strings.Join(names, ", "))
}

// Redis: one of addr (single node), addrs (Cluster), or addrs + master_name (Sentinel).
type Redis struct {
	Addr       string   `yaml:"addr"`
	Addrs      []string `yaml:"addrs"`
	MasterName string   `yaml:"master_name"`
	Password   string   `yaml:"password"`
	DB         int      `yaml:"db"`
}

// ClickHouse is reached over the native protocol.
type ClickHouse struct {
	Addr     string `yaml:"addr"`
	Database string `yaml:"database"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// Spool is the attempt writer's on-disk spool and batching.
type Spool struct {
	Dir           string        `yaml:"dir"`
	MaxBytes      ByteSize      `yaml:"max_bytes"`
	Fsync         string        `yaml:"fsync"` // always, batch, never
	BatchRows     int           `yaml:"batch_rows"`
	FlushInterval time.Duration `yaml:"flush_interval"`
	// MaxLag: /healthz fails once the oldest row not yet in ClickHouse is older.
	MaxLag time.Duration `yaml:"max_lag"`
}

// HTTP is the API, metrics and health listener.
type HTTP struct {
	Listen    string   `yaml:"listen"`
	APITokens []string `yaml:"api_tokens"`
	// MetricsToken, when set, is the bearer token /metrics and /healthz
	// need; they are open without it (what Prometheus and load balancers
	// expect by default).
	MetricsToken string `yaml:"metrics_token"`
	// MetricsListen, when set, serves /metrics and /healthz on their own
	// address (and no longer on listen).
	MetricsListen string `yaml:"metrics_listen"`
	// Timeouts every client gets, authenticated or not: the request line
	// and headers, the whole request with its body, the handler and its
	// response, and an idle keep-alive connection.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	WriteTimeout      time.Duration `yaml:"write_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
}

// Log output.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text, json
}

// defaultHTTP: a client has 10s for its headers and 2 minutes for a whole
// request (a 64 MiB upload needs about 5 Mbit/s); a handler and its answer
// get 5 minutes (past the read limit: an upload is read, then loaded); an
// idle keep-alive connection is closed after 2 minutes. A server-sent
// events route (httpapi's stream group) lifts the write deadline for its
// own responses.
func defaultHTTP() HTTP {
	return HTTP{Listen: "127.0.0.1:8080", ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 2 * time.Minute,
		WriteTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute}
}

// Default returns the configuration used for every key a file leaves out.
func Default() Config {
	host, _ := os.Hostname()
	if host == "" {
		host = "marcador-1"
	}
	return Config{
		NodeID:     sanitizeNode(host),
		Redis:      Redis{Addr: "127.0.0.1:6379"},
		ClickHouse: ClickHouse{Addr: "127.0.0.1:9000", Database: "marcador", Username: "default"},
		Spool:      Spool{Dir: "./spool", MaxBytes: 1 << 30, Fsync: "batch", BatchRows: 10000, FlushInterval: time.Second, MaxLag: 5 * time.Minute},
		HTTP:       defaultHTTP(),
		Log:        Log{Level: "info", Format: "text"},
		SIP:        SIP{Listen: "127.0.0.1:5060", RTPPorts: Ports{Min: 20000, Max: 29999}},
		IVR: IVR{Inbound: Inbound{MaxCalls: dialer.DefaultInboundMaxCalls, Verify: "national_id_last4",
			Lockout: Lockout{PerNumber: queue.DefaultFailuresPerNumber, PerSource: queue.DefaultFailuresPerSource, Window: queue.DefaultFailureWindow}}},
	}
}

func sanitizeNode(s string) string {
	s = regexp.MustCompile(`[^A-Za-z0-9_.-]`).ReplaceAllString(s, "-")
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

// Load reads path ("" means defaults only), then the environment, then validates.
func Load(path string, environ []string) (Config, error) {
	c := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		if err := decode(b, &c); err != nil {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := applyEnv(&c, environ); err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

func decode(b []byte, c *Config) error {
	d := yaml.NewDecoder(bytes.NewReader(b))
	d.KnownFields(true) // an unknown or misspelt key is an error, not silently ignored
	if err := d.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// applyEnv sets keys from MARCADOR_<SECTION>_<KEY> variables, e.g.
// MARCADOR_REDIS_ADDR, MARCADOR_HTTP_API_TOKENS (comma-separated),
// MARCADOR_NODE_ID. Variables that name no key are ignored (MARCADOR_TEST_*
// and MARCADOR_DEV_* belong to the test and dev tooling).
func applyEnv(c *Config, environ []string) error {
	vars := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "MARCADOR_") {
			vars[k] = v
		}
	}
	return walk(reflect.ValueOf(c).Elem(), "", func(key string, f reflect.Value) error {
		name := "MARCADOR_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
		v, ok := vars[name]
		if !ok {
			return nil
		}
		if err := setFromString(f, v); err != nil {
			return fmt.Errorf("%s (from %s): %w", key, name, err)
		}
		return nil
	})
}

// walk visits every leaf key with its dotted yaml name.
func walk(v reflect.Value, prefix string, fn func(key string, f reflect.Value) error) error {
	t := v.Type()
	for i := range t.NumField() {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		key := tag
		if prefix != "" {
			key = prefix + "." + tag
		}
		f := v.Field(i)
		if f.Kind() == reflect.Struct && f.Type() != reflect.TypeOf(time.Duration(0)) {
			if err := walk(f, key, fn); err != nil {
				return err
			}
			continue
		}
		if err := fn(key, f); err != nil {
			return err
		}
	}
	return nil
}

func setFromString(f reflect.Value, s string) error {
	switch f.Interface().(type) {
	case time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		f.SetInt(int64(d))
		return nil
	case ByteSize:
		n, err := ParseByteSize(s)
		if err != nil {
			return err
		}
		f.SetInt(int64(n))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		f.SetInt(n)
	case reflect.Float64:
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		f.SetFloat(v)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		f.SetBool(b)
	case reflect.Slice:
		if f.Type().Elem().Kind() != reflect.String {
			return errors.New("cannot be set from the environment; set it in the file")
		}
		var parts []string
		for p := range strings.SplitSeq(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		f.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}

var nodeIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Validate checks every key; the error starts with the key's dotted name.
func (c *Config) Validate() error {
	if !nodeIDRe.MatchString(c.NodeID) {
		return fmt.Errorf("node_id %q: 1-64 of A-Z a-z 0-9 _ . -", c.NodeID)
	}
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
	if err := hostPort(c.ClickHouse.Addr); err != nil {
		return fmt.Errorf("clickhouse.addr: %w", err)
	}
	if !regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`).MatchString(c.ClickHouse.Database) {
		return fmt.Errorf("clickhouse.database %q: letters, digits and _", c.ClickHouse.Database)
	}
	if c.ClickHouse.Username == "" {
		return errors.New("clickhouse.username: empty")
	}
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
	if err := hostPort(c.HTTP.Listen); err != nil {
		return fmt.Errorf("http.listen: %w", err)
	}
	for i, t := range c.HTTP.APITokens {
		if len(t) < 16 {
			return fmt.Errorf("http.api_tokens[%d]: shorter than 16 characters", i)
		}
	}
	if err := c.validateHTTP(); err != nil {
		return err
	}
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
	switch c.IVR.Inbound.Language {
	case "", "es", "en":
	default:
		return fmt.Errorf("ivr.inbound.language %q: want es or en", c.IVR.Inbound.Language)
	}
	if cc := c.IVR.Inbound.Country; cc != "" && (len(cc) != 2 || strings.ToUpper(cc) != cc) {
		return fmt.Errorf("ivr.inbound.country %q: want a two-letter region code such as MX", cc)
	}
	if _, ok := script.VerifyMethods[c.IVR.Inbound.Verify]; !ok {
		return fmt.Errorf("ivr.inbound.verify %q: want national_id_last4, birth_date or account_number", c.IVR.Inbound.Verify)
	}
	for _, l := range []struct {
		key string
		n   int
	}{{"per_number", c.IVR.Inbound.Lockout.PerNumber}, {"per_source", c.IVR.Inbound.Lockout.PerSource}} {
		if l.n == 0 || l.n < -1 || l.n > 100000 {
			return fmt.Errorf("ivr.inbound.lockout.%s %d: want 1-100000 failures, or -1 for no limit", l.key, l.n)
		}
	}
	if w := c.IVR.Inbound.Lockout.Window; w < time.Minute || w > 7*24*time.Hour {
		return fmt.Errorf("ivr.inbound.lockout.window %s: want 1m-168h", w)
	}
	if n := c.IVR.Inbound.MaxCalls; n < 1 || n > 100000 {
		return fmt.Errorf("ivr.inbound.max_calls %d: want 1-100000", n)
	}
	if s := c.PayLinks.Secret; s != "" && len(s) < 16 {
		return errors.New("paylinks.secret: shorter than 16 characters")
	}
	if c.PayLinks.TTL < 0 {
		return errors.New("paylinks.ttl: negative")
	}
	if err := c.validateKPI(); err != nil {
		return err
	}
	if err := c.validateTwilio(); err != nil {
		return err
	}
	return c.validateSIP()
}

func (c *Config) validateHTTP() error {
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

// InboundPolicy is who may call this node and how many at once: the
// trunks' inbound_from (host names resolved now, with lookup; nil for the
// system resolver), ivr.inbound.max_calls and sip.rtp_ports.reserve_outbound.
// No trunk listing sources means every INVITE is refused.
func (c *Config) InboundPolicy(ctx context.Context, lookup dialer.Lookup) (dialer.InboundPolicy, error) {
	src, err := dialer.InboundSources(ctx, c.Trunks, lookup)
	if err != nil {
		return dialer.InboundPolicy{}, fmt.Errorf("config: %w", err)
	}
	return dialer.InboundPolicy{Sources: src, MaxCalls: c.IVR.Inbound.MaxCalls, ReserveOutbound: c.SIP.RTPPorts.ReserveOutbound}, nil
}

// RTPPorts is sip.rtp_ports as the media package wants it.
func (c *Config) RTPPorts() media.PortRange {
	return media.PortRange{Min: c.SIP.RTPPorts.Min, Max: c.SIP.RTPPorts.Max}
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
