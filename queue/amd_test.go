package queue

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestAMDBlockRoundTripsAndIsChecked(t *testing.T) {
	var seen []string
	refs := CampaignRefs{
		Scripts: map[string][]string{"reminder-overdue": nil, "voicemail-limited": nil, "short-note": nil},
		// The app passes dialer/amd's parser; here a stand-in that refuses
		// one key, to see the error come back under the field "amd".
		AMDParams: func(p []byte) error {
			seen = append(seen, string(p))
			if strings.Contains(string(p), "greeting") {
				return errors.New("amd: greeting 20ms: want 100ms to 30s")
			}
			return nil
		},
	}
	base := `{"id":"c1","mode":"ivr","country":"MX","time_zone":"America/Mexico_City","script":"reminder-overdue","callback_number":"8005550100",`
	cases := []struct {
		name, amd     string
		field, reason string // "" field: valid
		want          AMD
	}{
		{"no block", ``, "", "", AMD{}},
		{"shorthand on", `"amd":"on"`, "", "", AMD{Mode: "on", OnMachine: "hangup"}},
		{"shorthand off", `"amd":"off"`, "", "", AMD{Mode: "off", OnMachine: "hangup"}},
		{"empty block is on", `"amd":{}`, "", "", AMD{Mode: "on", OnMachine: "hangup"}},
		{"voicemail with parameters", `"amd":{"on_machine":"voicemail","profile":"reference","beep":{"max_wait":"15s"}}`, "", "",
			AMD{Mode: "on", OnMachine: "voicemail", Params: json.RawMessage(`{"beep":{"max_wait":"15s"},"profile":"reference"}`)}},
		{"script", `"amd":{"mode":"ON","on_machine":"script","script":"short-note"}`, "", "", AMD{Mode: "on", OnMachine: "script", Script: "short-note"}},
		{"bad mode", `"amd":{"mode":"maybe"}`, "amd.mode", "want on or off", AMD{}},
		{"bad action", `"amd":{"on_machine":"beep"}`, "amd.on_machine", "want hangup, voicemail or script", AMD{}},
		{"script missing", `"amd":{"on_machine":"script"}`, "amd.script", "required", AMD{}},
		{"script not loaded", `"amd":{"on_machine":"script","script":"nope"}`, "amd.script", `"nope" is not loaded`, AMD{}},
		{"script without the action", `"amd":{"script":"short-note"}`, "amd.script", "only with on_machine: script", AMD{}},
		{"bad parameter", `"amd":{"greeting":"20ms"}`, "amd", "greeting 20ms", AMD{}},
	}
	for _, tc := range cases {
		body := base + tc.amd
		body = strings.TrimSuffix(body, ",") + "}"
		var c Campaign
		if err := json.Unmarshal([]byte(body), &c); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		err := c.Check(refs)
		if tc.field != "" {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Reason, tc.reason) {
				t.Errorf("%s: %v, want field %s reason containing %q", tc.name, err, tc.field, tc.reason)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if err := c.Normalize(); err != nil {
			t.Fatal(err)
		}
		if tc.amd == "" {
			if c.AMD != nil || c.AMDOnCalls() {
				t.Errorf("%s: %+v", tc.name, c.AMD)
			}
			continue
		}
		if c.AMD.Mode != tc.want.Mode || c.AMD.OnMachine != tc.want.OnMachine || c.AMD.Script != tc.want.Script ||
			string(c.AMD.Params) != string(tc.want.Params) {
			t.Errorf("%s: %+v %s, want %+v %s", tc.name, c.AMD, c.AMD.Params, tc.want, tc.want.Params)
		}
		// Stored and read back, the block is the same.
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var back Campaign
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if back.AMD.Mode != c.AMD.Mode || back.AMD.OnMachine != c.AMD.OnMachine || string(back.AMD.Params) != string(c.AMD.Params) {
			t.Errorf("%s: round trip %s → %+v", tc.name, b, back.AMD)
		}
	}
	if len(seen) == 0 {
		t.Error("the parameters were never given to AMDParams")
	}
	// voicemail says the callback number: a campaign without one is refused.
	c := Campaign{ID: "c2", Country: "MX", TimeZone: "America/Mexico_City", AMD: &AMD{OnMachine: OnMachineVoicemail}}
	var fe *FieldError
	if err := c.Normalize(); !errors.As(err, &fe) || fe.Field != "callback_number" {
		t.Errorf("voicemail without callback_number: %v", err)
	}
	c.CallbackNumber = "8005550100"
	if err := c.Normalize(); err != nil || c.MachineScript() != VoicemailScript || !c.AMDOnCalls() {
		t.Errorf("voicemail: %v %q", err, c.MachineScript())
	}
}
