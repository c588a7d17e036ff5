package queue

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// AMD modes and machine actions (the campaign's `amd` block).
const (
	AMDOn  = "on"
	AMDOff = "off"

	// OnMachineHangup hangs up on a machine at the decision.
	OnMachineHangup = "hangup"
	// OnMachineVoicemail leaves VoicemailScript after the beep.
	OnMachineVoicemail = "voicemail"
	// OnMachineScript runs the block's script after the beep.
	OnMachineScript = "script"

	// VoicemailScript is the message on_machine voicemail leaves: the
	// shipped Reg F limited-content message (a name, a request to call back
	// and callback_number; nothing that says it is about a debt), once.
	VoicemailScript = "voicemail-limited"
)

// AMD is a campaign's answering-machine detection: one JSON object with the
// campaign's own keys (mode, on_machine, script) beside the detector's
// (profile and the parameters to override, as in `marcador amd -params`):
//
//	"amd": {"mode": "on", "on_machine": "voicemail", "profile": "human-first", "greeting": "2.5s", "beep": {"max_wait": "15s"}}
//
// "amd": "on" (or "off") is the block with only its mode. No block is off.
type AMD struct {
	// Mode: on (the default when the block is given) or off.
	Mode string
	// OnMachine is what a machine gets: hangup (default), voicemail or script.
	OnMachine string
	// Script is the script on_machine script runs after the beep.
	Script string
	// Params are the detector's keys (profile, greeting, beep.max_wait, ...)
	// as a JSON object, checked by CampaignRefs.AMDParams and read by the
	// dialer with dialer/amd's one parser; empty is the human-first profile.
	Params json.RawMessage
}

// UnmarshalJSON reads the block (or its "on"/"off" shorthand).
func (a *AMD) UnmarshalJSON(b []byte) error {
	var mode string
	if err := json.Unmarshal(b, &mode); err == nil {
		*a = AMD{Mode: mode}
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("amd: want an object (mode, on_machine, script and detector parameters) or \"on\"/\"off\": %w", err)
	}
	out := AMD{}
	for key, dst := range map[string]*string{"mode": &out.Mode, "on_machine": &out.OnMachine, "script": &out.Script} {
		if v, ok := m[key]; ok {
			if err := json.Unmarshal(v, dst); err != nil {
				return fmt.Errorf("amd.%s: want a string: %w", key, err)
			}
			delete(m, key)
		}
	}
	if len(m) > 0 {
		p, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("amd: %w", err)
		}
		out.Params = p
	}
	*a = out
	return nil
}

// MarshalJSON writes the block as one object.
func (a AMD) MarshalJSON() ([]byte, error) {
	m := map[string]json.RawMessage{}
	if len(a.Params) > 0 {
		if err := json.Unmarshal(a.Params, &m); err != nil {
			return nil, fmt.Errorf("amd params: %w", err)
		}
	}
	for key, v := range map[string]string{"mode": a.Mode, "on_machine": a.OnMachine, "script": a.Script} {
		if v != "" {
			b, _ := json.Marshal(v)
			m[key] = b
		}
	}
	return json.Marshal(m)
}

// AMDOnCalls says whether the campaign's calls go through answering-machine
// detection.
func (c Campaign) AMDOnCalls() bool { return c.AMD != nil && c.AMD.Mode == AMDOn }

// MachineScript is the script a machine gets after the beep ("" for
// on_machine hangup).
func (c Campaign) MachineScript() string {
	if !c.AMDOnCalls() {
		return ""
	}
	switch c.AMD.OnMachine {
	case OnMachineVoicemail:
		return VoicemailScript
	case OnMachineScript:
		return c.AMD.Script
	}
	return ""
}

// normalizeAMD fills and checks the amd block (the detector's parameters
// are checked by CheckRefs, which has dialer/amd's parser).
func (c *Campaign) normalizeAMD() error {
	a := c.AMD
	if a == nil {
		return nil
	}
	a.Mode = strings.ToLower(a.Mode)
	if a.Mode == "" {
		a.Mode = AMDOn
	}
	if a.Mode != AMDOn && a.Mode != AMDOff {
		return c.bad("amd.mode", "%.20q: want on or off", a.Mode)
	}
	if a.OnMachine == "" {
		a.OnMachine = OnMachineHangup
	}
	switch a.OnMachine {
	case OnMachineHangup, OnMachineVoicemail:
		if a.Script != "" {
			return c.bad("amd.script", "only with on_machine: script")
		}
	case OnMachineScript:
		if a.Script == "" {
			return c.bad("amd.script", "required with on_machine: script")
		}
	default:
		return c.bad("amd.on_machine", "%.20q: want hangup, voicemail or script", a.OnMachine)
	}
	if a.OnMachine == OnMachineVoicemail && c.CallbackNumber == "" {
		return c.bad("callback_number", "required: amd.on_machine voicemail leaves a message that says it")
	}
	if p := bytes.TrimSpace(a.Params); len(p) > 0 && p[0] != '{' {
		return c.bad("amd", "detector parameters: want an object")
	}
	return nil
}

// checkAMDRefs reports a machine script this node has not loaded and
// detector parameters r.AMDParams refuses.
func (c *Campaign) checkAMDRefs(r CampaignRefs) error {
	if !c.AMDOnCalls() {
		return nil
	}
	if s := c.MachineScript(); s != "" && r.Scripts != nil {
		if _, ok := r.Scripts[s]; !ok {
			field := "amd.script"
			if c.AMD.OnMachine == OnMachineVoicemail {
				field = "amd.on_machine"
			}
			return c.bad(field, "script %q is not loaded (have: %s)", s, names(r.Scripts))
		}
	}
	if r.AMDParams != nil {
		if err := r.AMDParams(c.AMD.Params); err != nil {
			return c.bad("amd", "%v", err)
		}
	}
	return nil
}
