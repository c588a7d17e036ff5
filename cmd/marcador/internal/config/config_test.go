package config

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "m.yaml")
	os.WriteFile(p, []byte(body), 0o600)
	return p
}

func TestDefaultsAreValid(t *testing.T) {
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Redis.Addr != "127.0.0.1:6379" || c.ClickHouse.Addr != "127.0.0.1:9000" || c.Spool.Fsync != "batch" {
		t.Fatalf("defaults %+v", c)
	}
	if in := c.IVR.Inbound; in.Verify != "national_id_last4" || in.Lockout != (Lockout{PerNumber: 5, PerSource: 20, Window: time.Hour}) {
		t.Fatalf("inbound defaults %+v", in)
	}
	c, err = Load(write(t, "ivr: {inbound: {verify: birth_date, lockout: {per_source: -1}}}"), []string{"MARCADOR_IVR_INBOUND_LOCKOUT_WINDOW=30m"})
	if err != nil {
		t.Fatal(err)
	}
	if in := c.IVR.Inbound; in.Verify != "birth_date" || in.Lockout != (Lockout{PerNumber: 5, PerSource: -1, Window: 30 * time.Minute}) {
		t.Fatalf("inbound from file and env %+v", in)
	}
}

func TestFileAndEnv(t *testing.T) {
	p := write(t, `
node_id: n7
redis: {addr: 127.0.0.1:16379, db: 2}
clickhouse: {addr: 127.0.0.1:19000}
spool: {dir: /tmp/sp, max_bytes: 64MiB, fsync: always, flush_interval: 250ms, max_lag: 2m}
http: {listen: 127.0.0.1:9090, api_tokens: [aaaaaaaaaaaaaaaa]}
log: {level: debug, format: json}
`)
	c, err := Load(p, []string{"MARCADOR_REDIS_DB=3", "MARCADOR_HTTP_API_TOKENS=bbbbbbbbbbbbbbbb, cccccccccccccccc", "MARCADOR_TEST_FOO=1", "PATH=/bin"})
	if err != nil {
		t.Fatal(err)
	}
	if c.NodeID != "n7" || c.Redis.DB != 3 || c.Spool.MaxBytes != 64<<20 || c.Spool.FlushInterval != 250*time.Millisecond || c.Spool.MaxLag != 2*time.Minute ||
		len(c.HTTP.APITokens) != 2 || c.HTTP.APITokens[1] != "cccccccccccccccc" || c.ClickHouse.Database != "marcador" {
		t.Fatalf("loaded %+v", c)
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	cases := []struct{ yaml, env, want string }{
		{"redis: {adr: x}", "", "field adr not found"},
		{"unknown_top: 1", "", "field unknown_top not found"},
		{"redis: {addr: nohostport}", "", "redis.addr"},
		{"redis: {db: 99}", "", "redis.db"},
		{"redis: {master_name: m}", "", "redis.master_name"},
		{"spool: {fsync: sometimes}", "", "spool.fsync"},
		{"spool: {max_bytes: lots}", "", "size \"lots\""},
		{"spool: {max_bytes: 10}", "", "spool.max_bytes"},
		{"spool: {max_lag: 1s}", "", "spool.max_lag"},
		{"http: {api_tokens: [short]}", "", "http.api_tokens[0]"},
		{"http: {metrics_token: short}", "", "http.metrics_token"},
		{"http: {metrics_listen: nohostport}", "", "http.metrics_listen"},
		{"http: {listen: '127.0.0.1:8080', metrics_listen: '127.0.0.1:8080'}", "", "http.metrics_listen \"127.0.0.1:8080\": the same address"},
		{"http: {read_timeout: 0s}", "", "http.read_timeout"},
		{"http: {idle_timeout: 2h}", "", "http.idle_timeout"},
		{"http: {read_header_timeout: 1m, read_timeout: 30s}", "", "http.read_header_timeout"},
		{"", "MARCADOR_HTTP_WRITE_TIMEOUT=forever", "http.write_timeout (from MARCADOR_HTTP_WRITE_TIMEOUT)"},
		{"log: {level: loud}", "", "log.level"},
		{"clickhouse: {database: 'a-b'}", "", "clickhouse.database"},
		{"node_id: 'a b'", "", "node_id"},
		{"", "MARCADOR_REDIS_DB=two", "redis.db (from MARCADOR_REDIS_DB)"},
		{"", "MARCADOR_SPOOL_FLUSH_INTERVAL=soon", "spool.flush_interval (from MARCADOR_SPOOL_FLUSH_INTERVAL)"},
		{"sip: {listen: ':x'}", "", "sip.listen"},
		{"sip: {rtp_addr: host.example}", "", "sip.rtp_addr"},
		{"sip: {rtp_ports: {min: 30000, max: 30001}}", "", "sip.rtp_ports"},
		{"sip: {rtp_sockets: -1}", "", "sip.rtp_sockets"},
		{"sip: {rtp_sockets: 65}", "", "sip.rtp_sockets"},
		{"trunks: [{uri: 'sip:gw:5060'}]", "", "trunks[0].name"},
		{"trunks: [{name: a, uri: 'sip:gw'}, {name: a, uri: 'sip:gw'}]", "", `trunks[1].name "a": used twice`},
		{"trunks: [{name: a, uri: 'gw'}]", "", "trunks.a.uri"},
		{"trunks: [{name: a, uri: 'sip:gw', transport: sctp}]", "", "trunks.a.transport"},
		{"trunks: [{name: a, uri: 'sip:gw', codecs: [G729]}]", "", "trunks.a.codecs"},
		{"trunks: [{name: a, uri: 'sip:gw', cps: -1}]", "", "trunks.a"},
		{"trunks: [{name: a, uri: 'sip:gw', cpss: 1}]", "", "field cpss not found"},
		{"", "MARCADOR_TRUNKS=x", "trunks (from MARCADOR_TRUNKS): cannot be set from the environment"},
		{"compliance: {profiles: [{name: X, windows: {mon: ['8-9']}}]}", "", "compliance.profiles[0]: profile X.windows.mon"},
		{"compliance: {profiles: [{name: X}, {name: X}]}", "", `compliance.profiles[1].name "X": used twice`},
		{"compliance: {profiles: [{name: X, caps: [{max: 1}]}]}", "", "compliance.profiles[0]: profile X.caps[0]: max needs per"},
		{"twilio: {account_sid: AC1}", "", "twilio.account_sid"},
		{"twilio: {account_sid: AC0123456789abcdef0123456789abcdef}", "", "twilio.auth_token"},
		{"twilio: {account_sid: AC0123456789abcdef0123456789abcdef, auth_token: t}", "", "twilio: set from"},
		{"twilio: {account_sid: AC0123456789abcdef0123456789abcdef, auth_token: t, from: '5550006'}", "", "twilio.from"},
		{"twilio: {account_sid: AC0123456789abcdef0123456789abcdef, auth_token: t, messaging_service_sid: MG1}", "", "twilio.messaging_service_sid"},
		{"twilio: {account_sid: AC0123456789abcdef0123456789abcdef, auth_token: t, from: '+15005550006'}", "", "twilio.public_url: empty"},
		{"twilio: {account_sid: AC0123456789abcdef0123456789abcdef, auth_token: t, from: '+15005550006', public_url: 'dialer.example.com'}", "", "twilio.public_url"},
		{"twilio: {account_sid: AC0123456789abcdef0123456789abcdef, auth_token: t, from: '+15005550006', public_url: 'https://d.example', api_url: 'ftp://x'}", "", "twilio.api_url"},
		{"sms: {rate: -1}", "", "sms.rate"},
		{"", "MARCADOR_SMS_RATE=fast", "sms.rate (from MARCADOR_SMS_RATE)"},
		{"sms: {tries: 50}", "", "sms.tries"},
		{"ivr: {inbound: {verify: caller_id}}", "", `ivr.inbound.verify "caller_id"`},
		{"ivr: {inbound: {lockout: {per_number: 0}}}", "", "ivr.inbound.lockout.per_number 0"},
		{"", "MARCADOR_IVR_INBOUND_LOCKOUT_PER_SOURCE=-2", "ivr.inbound.lockout.per_source -2"},
		{"ivr: {inbound: {lockout: {window: 1s}}}", "", "ivr.inbound.lockout.window"},
		{"trunks: [{name: a, uri: 'sip:gw', caller_id: anonymous}]", "", "trunks.a.caller_id"},
		{"trunks: [{name: a, uri: 'sip:gw', caller_id: '5550000100'}]", "", "trunks.a.caller_id"},
		{"trunks: [{name: a, uri: 'sip:gw', inbound_from: ['10.0.0.0/40']}]", "", "trunks.a.inbound_from[0]"},
		{"trunks: [{name: a, uri: 'sip:gw', inbound_from: [127.0.0.1, 'not a host']}]", "", "trunks.a.inbound_from[1]"},
		{"ivr: {inbound: {max_calls: -1}}", "", "ivr.inbound.max_calls"},
		{"", "MARCADOR_IVR_INBOUND_MAX_CALLS=0", "ivr.inbound.max_calls"},
		{"sip: {rtp_ports: {min: 30000, max: 30009, reserve_outbound: 5}}", "", "sip.rtp_ports.reserve_outbound"},
		{"sip: {rtp_ports: {reserve_outbound: -1}}", "", "sip.rtp_ports.reserve_outbound"},
	}
	for _, tc := range cases {
		var env []string
		if tc.env != "" {
			env = []string{tc.env}
		}
		_, err := Load(write(t, tc.yaml), env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q %q: err = %v, want mention of %q", tc.yaml, tc.env, err, tc.want)
		}
	}
}

func TestTwilioFromFileAndEnv(t *testing.T) {
	c, err := Load(write(t, `
twilio:
  account_sid: AC0123456789abcdef0123456789abcdef
  from: "+15005550006"
  whatsapp_from: "+14155238886"
  public_url: https://dialer.example.com
sms: {rate: 2.5}
`), []string{"MARCADOR_TWILIO_AUTH_TOKEN=secret-token", "MARCADOR_SMS_TRIES=6"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Twilio.AuthToken != "secret-token" || c.SMS.Rate != 2.5 || c.SMS.Tries != 6 || c.Twilio.WhatsAppFrom != "+14155238886" {
		t.Fatalf("%+v %+v", c.Twilio, c.SMS)
	}
}

func TestTrunks(t *testing.T) {
	c, err := Load(write(t, `
sip: {listen: 127.0.0.1:15060, rtp_ports: {min: 30000, max: 30999}}
trunks:
  - {name: sim, uri: "sip:127.0.0.1:15090", caller_id: "+525550000100", cps: 50, max_channels: 200, codecs: [PCMA, PCMU]}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := c.Trunk("sim")
	if err != nil {
		t.Fatal(err)
	}
	if tr.MaxChannels() != 200 || tr.Codecs[0].Name != "PCMA" || c.RTPPorts().Min != 30000 {
		t.Fatalf("trunk %+v ports %+v", tr, c.RTPPorts())
	}
	if _, err := c.Trunk("other"); err == nil || !strings.Contains(err.Error(), "have: sim") {
		t.Fatalf("unknown trunk: %v", err)
	}
}

// The compose file's config, with the compose file's environment, loads.
func TestComposeExampleLoads(t *testing.T) {
	c, err := Load(filepath.Join("..", "..", "..", "..", "deploy", "marcador.example.yaml"), []string{
		"MARCADOR_NODE_ID=marcador-1", "MARCADOR_REDIS_ADDR=127.0.0.1:6379", "MARCADOR_CLICKHOUSE_ADDR=127.0.0.1:9000",
		"MARCADOR_CLICKHOUSE_USERNAME=marcador", "MARCADOR_CLICKHOUSE_PASSWORD=marcador", "MARCADOR_HTTP_LISTEN=0.0.0.0:8080",
		"MARCADOR_SPOOL_DIR=/var/lib/marcador/spool", "MARCADOR_HTTP_API_TOKENS=aaaaaaaaaaaaaaaa"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Trunks) != 1 || c.Spool.Dir != "/var/lib/marcador/spool" || c.ClickHouse.Username != "marcador" {
		t.Fatalf("%+v", c)
	}
}

// Who may call in: the trunks' inbound_from, host names resolved when the
// policy is built; the limits from ivr.inbound.max_calls and
// sip.rtp_ports.reserve_outbound.
func TestInboundPolicy(t *testing.T) {
	c, err := Load(write(t, `
sip: {rtp_ports: {min: 30000, max: 30999, reserve_outbound: 100}}
ivr: {inbound: {max_calls: 20}}
trunks:
  - {name: carrier, uri: "sip:gw.carrier.example", caller_id: "+525550000100", inbound_from: [203.0.113.0/28, sbc.carrier.example]}
  - {name: other, uri: "sip:gw2.example", caller_id: "+525550000200"}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
		if host != "sbc.carrier.example" {
			return nil, fmt.Errorf("no host %s", host)
		}
		return []netip.Addr{netip.MustParseAddr("198.51.100.7")}, nil
	}
	p, err := c.InboundPolicy(context.Background(), lookup)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Sources) != 2 || p.Sources[1].Prefix.String() != "198.51.100.7/32" || p.Sources[0].Trunk != "carrier" ||
		p.MaxCalls != 20 || p.ReserveOutbound != 100 || p.AnySource {
		t.Fatalf("policy %+v", p)
	}
	if _, err := c.InboundPolicy(context.Background(), func(context.Context, string) ([]netip.Addr, error) {
		return nil, errors.New("NXDOMAIN")
	}); err == nil || !strings.Contains(err.Error(), "trunks.carrier.inbound_from[1]: resolve sbc.carrier.example") {
		t.Fatalf("unresolvable host: %v", err)
	}
	// By default nobody may call: no trunk lists sources.
	d, _ := Load("", nil)
	if p, err := d.InboundPolicy(context.Background(), lookup); err != nil || len(p.Sources) != 0 || p.MaxCalls != 50 {
		t.Fatalf("default policy %+v %v", p, err)
	}
}
