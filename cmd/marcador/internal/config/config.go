// Package config reads marcador's YAML configuration, applies MARCADOR_*
// environment overrides and validates it, failing on the first bad key with
// the key's name and the reason. Every key has a default that works on one
// machine with Redis on 127.0.0.1:6379 and ClickHouse on 127.0.0.1:9000.
package config

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/marcador/marcador/analytics/kpi"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/ivr/media"
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
	Agents     Agents               `yaml:"agents"`     // agents.go
	Registrar  Registrar            `yaml:"registrar"`  // agents.go
	Recordings Recordings           `yaml:"recordings"` // agents.go
	KPI        KPI                  `yaml:"kpi"`        // kpi.go
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
	// RTPSockets is how many shared sockets carry every call's RTP (bound
	// in rtp_ports; calls told apart by source address and SSRC); 0 binds
	// one socket per call, for peers whose media comes from another IP
	// than their SDP names. Default media.DefaultMuxSockets.
	RTPSockets int `yaml:"rtp_sockets"`
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
		SIP:        SIP{Listen: "127.0.0.1:5060", RTPPorts: Ports{Min: 20000, Max: 29999}, RTPSockets: media.DefaultMuxSockets},
		IVR: IVR{Inbound: Inbound{MaxCalls: dialer.DefaultInboundMaxCalls, Verify: "national_id_last4",
			Lockout: Lockout{PerNumber: queue.DefaultFailuresPerNumber, PerSource: queue.DefaultFailuresPerSource, Window: queue.DefaultFailureWindow}}},
		Agents:     defaultAgents(),
		Registrar:  defaultRegistrar(),
		Recordings: Recordings{Dir: "./recordings"},
		KPI:        KPI{AttributionDays: kpi.DefaultAttributionDays, Refresh: time.Minute},
	}
}

func sanitizeNode(s string) string {
	s = regexp.MustCompile(`[^A-Za-z0-9_.-]`).ReplaceAllString(s, "-")
	if len(s) > 64 {
		s = s[:64]
	}
	return s
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
