package demo

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

// amdSummary is the agents' campaign's answering-machine detection, read
// back from ClickHouse (this run's answered calls: what AMD decided, why,
// how long after the answer, and what the call became), beside what each
// simulated machine's box recorded after its beep (the simulator's ear:
// speech heard, not packets counted).
func (r *run) amdSummary(ctx context.Context) error {
	rows, err := r.app.Conn.Query(ctx, "SELECT account_id, phone, amd, amd_cause, amd_ms, disposition, agent_id, reason FROM "+
		r.opt.Config.ClickHouse.Database+".contact_attempts FINAL WHERE campaign_id = ? AND channel = 'voice' AND started_at >= ? AND amd != '' "+
		"ORDER BY amd DESC, account_id", agentCampaignID, r.agentsStart.Add(-time.Second))
	if err != nil {
		return fmt.Errorf("AMD rows of %s: %w", agentCampaignID, err)
	}
	defer rows.Close()
	boxes := map[string]time.Duration{}
	for _, c := range r.sim.Calls() {
		if c.Message.Voiced > 0 {
			boxes[c.To] = c.Message.Voiced
		}
	}
	r.p("\n   answering-machine detection on the agents' campaign (amd on, on_machine voicemail), read back from ClickHouse:\n")
	tw := tabwriter.NewWriter(r.out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "   account\tamd\tcause\tdecided after\tbecame\tthe box recorded after its beep\n")
	machines, people := 0, 0
	for rows.Next() {
		var acct, phone, result, cause, disposition, agentID, reason string
		var ms uint32
		if err := rows.Scan(&acct, &phone, &result, &cause, &ms, &disposition, &agentID, &reason); err != nil {
			return fmt.Errorf("AMD rows of %s: %w", agentCampaignID, err)
		}
		became, box := disposition, "-"
		switch {
		case agentID != "":
			became = "agent " + agentID
			people++
		case result == "machine":
			machines++
			if strings.Contains(reason, "left after the beep") {
				became = "voicemail left"
			}
			if v, ok := boxes[phone]; ok {
				box = fmt.Sprintf("%.1f s of speech", v.Seconds())
			}
		}
		fmt.Fprintf(tw, "   %s\t%s\t%s\t%.2f s\t%s\t%s\n", acct, result, cause, float64(ms)/1000, became, box)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("AMD rows of %s: %w", agentCampaignID, err)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	r.p("   %d machines got the limited-content message and no agent's time; %d people reached an agent\n", machines, people)
	return nil
}
