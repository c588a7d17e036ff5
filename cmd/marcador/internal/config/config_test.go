package config

import (
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
}

func TestFileAndEnv(t *testing.T) {
	p := write(t, `
node_id: n7
redis: {addr: 127.0.0.1:16379, db: 2}
clickhouse: {addr: 127.0.0.1:19000}
spool: {dir: /tmp/sp, max_bytes: 64MiB, fsync: always, flush_interval: 250ms}
http: {listen: 127.0.0.1:9090, api_tokens: [aaaaaaaaaaaaaaaa]}
log: {level: debug, format: json}
`)
	c, err := Load(p, []string{"MARCADOR_REDIS_DB=3", "MARCADOR_HTTP_API_TOKENS=bbbbbbbbbbbbbbbb, cccccccccccccccc", "MARCADOR_TEST_FOO=1", "PATH=/bin"})
	if err != nil {
		t.Fatal(err)
	}
	if c.NodeID != "n7" || c.Redis.DB != 3 || c.Spool.MaxBytes != 64<<20 || c.Spool.FlushInterval != 250*time.Millisecond ||
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
