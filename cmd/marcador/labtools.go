//go:build !prod

package main

// labCommands are the tools for a laptop and a lab: the demo, the local
// Twilio-compatible server, the carrier simulator and the benchmarks. They
// bring the fakes (sms/twiliotest, dialer/simcarrier) into the binary; a
// build with -tags prod leaves them out (labtools_prod.go).
func labCommands() map[string]command {
	return map[string]command{
		"demo":       {"load a generated portfolio into demo campaigns, run one over SIP/RTP, text, take a call back, read ClickHouse", runDemo},
		"bench":      {"'bench analytics|sip|amd|bridge': the attempt writer, SIP calls and RTP pacing, answering-machine detection, agent bridging", runBench},
		"twiliosim":  {"run a local Twilio-compatible Messages API (for serve with twilio.api_url pointing at it)", runTwilioSim},
		"simcarrier": {"run the carrier simulator (a SIP network of simulated debtors) on loopback", runSimCarrier},
	}
}
