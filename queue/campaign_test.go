package queue

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/marcador/marcador/analytics"
)

func TestCampaignValidationNamesFieldAndReason(t *testing.T) {
	refs := CampaignRefs{
		Trunks:   map[string]bool{"carrier-a": true},
		Profiles: map[string]bool{"MX": true, "CO": true, "acme": true, "US": true, "UK": true},
		Scripts:  map[string][]string{"reminder-overdue": {"payment-link"}, "no-texts": nil, "agent-promise": nil, "abandon-message": nil},
		Template: func(lang, name string) (bool, bool) {
			switch name {
			case "payment-link":
				return true, true
			case "missed-call":
				return true, false
			}
			return false, false
		},
	}
	base := func() Campaign {
		return Campaign{ID: "c1", Mode: "ivr", Country: "MX", TimeZone: "America/Mexico_City", Currency: "mxn",
			Trunk: "carrier-a", Script: "reminder-overdue", PayURL: "https://pagos.example.com/p/{token}?a={account}"}
	}
	cases := []struct {
		name          string
		edit          func(*Campaign)
		field, reason string // "" field: valid
	}{
		{"valid", func(*Campaign) {}, "", ""},
		{"custom profile as written", func(c *Campaign) { c.Profile = "acme" }, "", ""},
		{"profile auto", func(c *Campaign) { c.Profile = "auto" }, "", ""},
		{"loopback http for development", func(c *Campaign) { c.PayURL = "http://127.0.0.1:8081/p/{token}" }, "", ""},
		{"localhost http", func(c *Campaign) { c.PayURL = "http://localhost/p/{token}" }, "", ""},
		{"no trunk yet", func(c *Campaign) { c.Trunk = "" }, "", ""},
		{"bad id", func(c *Campaign) { c.ID = "a{b}" }, "id", "A-Z a-z 0-9"},
		{"id with space", func(c *Campaign) { c.ID = " bad{" }, "id", "A-Z a-z 0-9"},
		{"id too long", func(c *Campaign) { c.ID = strings.Repeat("x", 65) }, "id", "1-64"},
		{"unknown profile", func(c *Campaign) { c.Profile = "ZZ" }, "profile", `"ZZ" is not a compliance profile here (have: auto, CO, MX, UK, US, acme)`},
		{"profile from an unknown country", func(c *Campaign) { c.Country = "GB" }, "profile", `"GB" is not a compliance profile`},
		{"unknown trunk", func(c *Campaign) { c.Trunk = "nope" }, "trunk", `"nope" is not configured (have: carrier-a)`},
		{"unknown script", func(c *Campaign) { c.Script = "nope" }, "script", `"nope" is not loaded`},
		{"zone Local", func(c *Campaign) { c.TimeZone = "Local" }, "time_zone", `"Local" is not an IANA zone`},
		{"zone posixrules", func(c *Campaign) { c.TimeZone = "posixrules" }, "time_zone", "not an IANA zone"},
		{"zone path", func(c *Campaign) { c.TimeZone = "../../etc/passwd" }, "time_zone", "not an IANA zone name"},
		{"zone unknown", func(c *Campaign) { c.TimeZone = "Nowhere/City" }, "time_zone", "unknown time zone"},
		{"pay_url javascript", func(c *Campaign) { c.PayURL = "javascript:alert(document.cookie)//{token}" }, "pay_url", "want https://"},
		{"pay_url http elsewhere", func(c *Campaign) { c.PayURL = "http://pagos.example.com/p/{token}" }, "pay_url", "want https://"},
		{"pay_url data", func(c *Campaign) { c.PayURL = "data:text/html,<script>x</script>" }, "pay_url", "want https://"},
		{"pay_url no host", func(c *Campaign) { c.PayURL = "https:///p/{token}" }, "pay_url", "no host"},
		{"pay_url userinfo", func(c *Campaign) { c.PayURL = "https://pay.example.com@evil.example/{token}" }, "pay_url", "user info"},
		{"pay_url placeholder host", func(c *Campaign) { c.PayURL = "https://{account}.example.com/p" }, "pay_url", "part of the host"},
		{"pay_url unknown placeholder", func(c *Campaign) { c.PayURL = "https://pay.example.com/{amount}" }, "pay_url", "unknown placeholder"},
		{"currency symbols", func(c *Campaign) { c.Currency = "$$$" }, "currency", "not an ISO 4217 currency code"},
		{"currency unknown", func(c *Campaign) { c.Currency = "ABC" }, "currency", "not an ISO 4217"},
		{"currency none", func(c *Campaign) { c.Currency = "XXX" }, "currency", "not an ISO 4217"},
		{"script texts a link without pay_url", func(c *Campaign) { c.PayURL = "" }, "pay_url", `script "reminder-overdue" texts template "payment-link"`},
		{"script without link texts", func(c *Campaign) { c.PayURL, c.Script = "", "no-texts" }, "", ""},
		{"fallback link without pay_url", func(c *Campaign) {
			c.PayURL, c.Script = "", "no-texts"
			c.SMS.Fallback = []FallbackRule{{After: []string{"no_answer"}, Template: "missed-call"}, {After: []string{"busy"}, Template: "payment-link"}}
		}, "sms.fallback[1].template", `"payment-link" sends a payment link and the campaign has no pay_url`},
		{"fallback unknown template", func(c *Campaign) {
			c.SMS.Fallback = []FallbackRule{{After: []string{"no_answer"}, Template: "nope"}}
		}, "sms.fallback[0].template", `"nope": no such template in es`},
		{"fallback after wrong_party", func(c *Campaign) {
			c.SMS.Fallback = []FallbackRule{{After: []string{"no_answer"}, Template: "missed-call"}, {After: []string{"busy", "wrong_party"}, Template: "payment-link"}}
		}, "sms.fallback[1].after", `"wrong_party": whoever answered has not proven they are the debtor; a text to the number would disclose the debt to a third party`},
		{"fallback after not_verified", func(c *Campaign) {
			c.SMS.Fallback = []FallbackRule{{After: []string{"not_verified"}, Template: "missed-call", Channel: "whatsapp"}}
		}, "sms.fallback[0].after", `"not_verified": whoever answered has not proven they are the debtor`},
		{"fallback after a disposition that is not one", func(c *Campaign) {
			c.SMS.Fallback = []FallbackRule{{After: []string{"blocked"}, Template: "missed-call"}}
		}, "sms.fallback[0].after", `"blocked": want one of answered, busy,`},
		{"bad mode", func(c *Campaign) { c.Mode = "robot" }, "mode", "want ivr"},
		{"short ring", func(c *Campaign) { c.RingTimeout = Duration(1e9) }, "ring_timeout", "below the 15s minimum"},
		{"progressive", func(c *Campaign) { c.Mode, c.LinesPerAgent = "progressive", 2.5 }, "", ""},
		{"unknown abandon script", func(c *Campaign) { c.Mode, c.AbandonScript = "progressive", "nope" }, "abandon_script", `"nope" is not loaded`},
		{"lines per agent under 1", func(c *Campaign) { c.Mode, c.LinesPerAgent = "progressive", 0.5 }, "lines_per_agent", "want 1.0 to 3.0"},
		{"lines per agent over 3", func(c *Campaign) { c.Mode, c.LinesPerAgent = "progressive", 3.5 }, "lines_per_agent", "want 1.0 to 3.0"},
		{"abandon after 3s in MX", func(c *Campaign) { c.Mode, c.AbandonAfter = "progressive", Duration(3e9) }, "", ""},
		{"abandon after 3s in the US", func(c *Campaign) {
			c.Mode, c.Country, c.Profile, c.TimeZone, c.AbandonAfter = "progressive", "US", "US", "America/New_York", Duration(3e9)
		}, "abandon_after", "the US profile allows at most 2s"},
		{"abandon after 2.5s in the UK", func(c *Campaign) {
			c.Mode, c.Country, c.Profile, c.TimeZone, c.AbandonAfter = "predictive", "GB", "UK", "Europe/London", Duration(2500e6)
		}, "abandon_after", "the UK profile allows at most 2s"},
		{"abandon after 2s in the US", func(c *Campaign) {
			c.Mode, c.Country, c.Profile, c.TimeZone, c.AbandonAfter = "progressive", "US", "US", "America/New_York", Duration(2e9)
		}, "", ""},
		{"target abandon 3% in the US", func(c *Campaign) {
			c.Mode, c.Country, c.Profile, c.TimeZone, c.TargetAbandon = "predictive", "US", "US", "America/New_York", 0.03
		}, "", ""},
		{"target abandon 4% in the US", func(c *Campaign) {
			c.Mode, c.Country, c.Profile, c.TimeZone, c.TargetAbandon = "predictive", "US", "US", "America/New_York", 0.04
		}, "target_abandon", "the US profile allows at most 0.03"},
		{"target abandon 3.5% in the UK", func(c *Campaign) {
			c.Mode, c.Country, c.Profile, c.TimeZone, c.TargetAbandon = "predictive", "GB", "UK", "Europe/London", 0.035
		}, "target_abandon", "the UK profile allows at most 0.03"},
		{"target abandon 5% in MX", func(c *Campaign) { c.Mode, c.TargetAbandon = "predictive", 0.05 }, "", ""},
		{"target abandon 50%", func(c *Campaign) { c.Mode, c.TargetAbandon = "predictive", 0.5 }, "target_abandon", "want 0.001 to 0.2"},
		{"target abandon negative", func(c *Campaign) { c.Mode, c.TargetAbandon = "predictive", -0.01 }, "target_abandon", "want 0.001 to 0.2"},
		{"max lines per agent 2.5", func(c *Campaign) { c.Mode, c.MaxLinesPerAgent = "predictive", 2.5 }, "", ""},
		{"max lines per agent 0.5", func(c *Campaign) { c.Mode, c.MaxLinesPerAgent = "predictive", 0.5 }, "max_lines_per_agent", "want 1.0 to 10.0"},
		{"max lines per agent 11", func(c *Campaign) { c.Mode, c.MaxLinesPerAgent = "predictive", 11 }, "max_lines_per_agent", "want 1.0 to 10.0"},
		{"abandon after an hour", func(c *Campaign) { c.AbandonAfter = Duration(time.Hour) }, "abandon_after", "want up to 1m"},
		{"wrap-up too short", func(c *Campaign) { c.WrapUp = Duration(time.Millisecond) }, "wrap_up", "want 1s to 1h"},
		{"notice not a phrase", func(c *Campaign) { c.RecordingNotice = "../../etc/x" }, "recording_notice", "want a phrase name"},
		{"custom codes", func(c *Campaign) {
			c.AgentCodes = []AgentCode{{Code: "hardship", RightParty: true, Retry: Duration(72 * time.Hour)}, {Code: "bankrupt", Final: true}}
		}, "", ""},
		{"custom code named like a shipped one", func(c *Campaign) { c.AgentCodes = []AgentCode{{Code: "refused"}} }, "agent_codes[0].code", "is a shipped code"},
		{"custom code twice", func(c *Campaign) { c.AgentCodes = []AgentCode{{Code: "x1"}, {Code: "x1"}} }, "agent_codes[1].code", "listed twice"},
		{"custom code bad name", func(c *Campaign) { c.AgentCodes = []AgentCode{{Code: "Bad Code"}} }, "agent_codes[0].code", "want 1-32"},
		{"keep 90 percent, 5 grace days", func(c *Campaign) { c.Promise.KeepPercent, c.Promise.GraceDays = 90, 5 }, "", ""},
		{"keep over 100 percent", func(c *Campaign) { c.Promise.KeepPercent = 101 }, "promise.keep_percent", "want 1-100"},
		{"keep a negative percent", func(c *Campaign) { c.Promise.KeepPercent = -1 }, "promise.keep_percent", "want 1-100"},
		{"grace over the maximum", func(c *Campaign) { c.Promise.GraceDays = MaxGraceDays + 1 }, "promise.grace_days", "at most 60"},
		{"final code with a retry", func(c *Campaign) { c.AgentCodes = []AgentCode{{Code: "x", Final: true, Retry: Duration(time.Hour)}} }, "agent_codes[0].retry", "not retried"},
	}
	for _, tc := range cases {
		c := base()
		tc.edit(&c)
		err := c.Check(refs)
		if tc.field == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Reason, tc.reason) {
			t.Errorf("%s: %v, want field %s reason containing %q", tc.name, err, tc.field, tc.reason)
		}
	}
	// Without refs (a tool with no trunks), only the definition is checked.
	c := base()
	c.Trunk, c.Profile = "anything", "ZZ"
	if err := c.Check(CampaignRefs{}); err != nil {
		t.Fatalf("no refs: %v", err)
	}
}

func TestCheckIDIsTheOneRule(t *testing.T) {
	for _, id := range []string{"c1", "A.b_c-9", strings.Repeat("x", 64)} {
		if err := CheckID(id); err != nil || !ValidCampaignID(id) {
			t.Errorf("%q refused: %v", id, err)
		}
	}
	for _, id := range []string{"", " bad{", "a}b", "a:b", "a b", "-a", ".a", strings.Repeat("x", 65), "ñ", "a\x00"} {
		if err := CheckID(id); !errors.Is(err, ErrInvalidID) || ValidCampaignID(id) {
			t.Errorf("%q accepted: %v", id, err)
		}
	}
}

// The promise rules default to 2 grace days and 100%, the values every
// promise made in the campaign is judged by.
func TestPromisePolicyDefaults(t *testing.T) {
	c := Campaign{ID: "p1", Country: "MX", TimeZone: "America/Mexico_City"}
	if err := c.Normalize(); err != nil {
		t.Fatal(err)
	}
	if c.Promise.GraceDays != 2 || c.Promise.KeepPercent != 100 || c.Promise.MaxDays != 15 {
		t.Errorf("defaults: %+v", c.Promise)
	}
}

func TestAgentCampaignDefaultsAndCodes(t *testing.T) {
	c := Campaign{ID: "a1", Mode: "progressive", Country: "MX", TimeZone: "America/Mexico_City",
		AgentCodes: []AgentCode{{Code: "hardship", RightParty: true}}}
	if err := c.Normalize(); err != nil {
		t.Fatal(err)
	}
	if c.LinesPerAgent != 1 || c.AbandonLimit() != 2*time.Second || c.WrapUpLimit() != 30*time.Second ||
		c.AbandonScript != "abandon-message" || c.Script != "agent-promise" || !c.HasAgents() {
		t.Fatalf("defaults: %+v", c)
	}
	if x, ok := c.AgentCode("promise"); !ok || !x.Final || !x.RightParty {
		t.Errorf("promise: %+v %v", x, ok)
	}
	if x, ok := c.AgentCode("hardship"); !ok || x.Final || !x.RightParty {
		t.Errorf("hardship: %+v %v", x, ok)
	}
	if _, ok := c.AgentCode("nope"); ok {
		t.Error("an unknown code was found")
	}
	if got := strings.Join(c.CodeNames(), ","); got != "promise,callback,refused,wrong_party,third_party,dispute,paid,deceased,hardship" {
		t.Errorf("codes %s", got)
	}
	// An IVR campaign keeps its fields empty (its transfers use the defaults).
	ivr := Campaign{ID: "i1", Country: "MX", TimeZone: "America/Mexico_City"}
	if err := ivr.Normalize(); err != nil || ivr.AbandonAfter != 0 || ivr.AbandonLimit() != 2*time.Second {
		t.Fatalf("ivr: %v %+v", err, ivr)
	}
}

// The abandon window follows the law of the campaign's profile: the UK's
// day, else 30 days; an auto profile's is its country's.
func TestAbandonWindowByProfile(t *testing.T) {
	for _, x := range []struct {
		profile, country string
		daily            bool
	}{{"UK", "GB", true}, {"auto", "GB", true}, {"US", "US", false}, {"auto", "US", false}, {"MX", "MX", false}} {
		c := Campaign{Profile: x.profile, Country: x.country}
		if c.AbandonDaily() != x.daily {
			t.Errorf("%s/%s: daily %v", x.profile, x.country, !x.daily)
		}
	}
	if (Campaign{}).AbandonTarget() != 0.03 || (Campaign{TargetAbandon: 0.01}).AbandonTarget() != 0.01 {
		t.Error("abandon target default")
	}
}

// No fallback text follows an unverified answer, even from a rule that
// matches by attempts alone (or one stored before such triggers were
// refused), nor an agent's call whose code says it was someone else.
func TestFallbackSkipsUnverifiedAnswers(t *testing.T) {
	byAttempts := FallbackRule{AfterAttempts: 2, Template: "missed-call"}
	stored := FallbackRule{After: []string{"no_answer", "answered", "wrong_party", "not_verified"}, Template: "payment-link"}
	call := func(disp string, n uint16) analytics.Attempt {
		return analytics.Attempt{Channel: analytics.Voice, Disposition: disp, AttemptNo: n}
	}
	for _, d := range UnverifiedAnswers() {
		if byAttempts.Matches(call(d, 3)) || stored.Matches(call(d, 1)) {
			t.Fatalf("a text follows %s", d)
		}
	}
	for _, code := range []string{CodeWrongParty, CodeThirdParty, CodeDeceased, "bankrupt-relative"} {
		a := call(analytics.Answered, 3)
		a.AgentCode = code
		if byAttempts.Matches(a) || stored.Matches(a) {
			t.Fatalf("a text follows an agent's %s", code)
		}
	}
	refused := call(analytics.Answered, 3)
	refused.AgentCode, refused.RightParty = CodeRefused, true
	if !byAttempts.Matches(call("no_answer", 2)) || !stored.Matches(call("no_answer", 1)) || byAttempts.Matches(call("no_answer", 1)) ||
		!stored.Matches(refused) {
		t.Fatal("the rules no longer match what they name")
	}
}
