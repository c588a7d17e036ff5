package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Held is an agent a node holds in a campaign.
type Held struct{ Campaign, Agent string }

// campaigns lists the campaigns agents have logged in to.
func (p *Pool) campaigns(ctx context.Context) ([]string, error) {
	cs, err := p.rdb.SMembers(ctx, campaignsKey).Result()
	if err != nil {
		return nil, fmt.Errorf("agent campaigns: %w", err)
	}
	sort.Strings(cs)
	return cs, nil
}

// Renew extends, to now + LeaseTTL, the lease of every agent node holds, in
// every campaign (one script per campaign agents have logged in to). A node
// calls it every LeaseTTL/3 or so. It returns the agents renewed: an agent
// the node thinks it holds and that is missing was logged out meanwhile (by
// Reap when the node was too late, or by a request). An expired lease that
// no reaper has acted on yet is renewed: the node is alive after all.
func (p *Pool) Renew(ctx context.Context, node string) ([]Held, error) {
	if err := checkRef("node", node); err != nil {
		return nil, err
	}
	cs, err := p.campaigns(ctx)
	if err != nil {
		return nil, err
	}
	now := p.now()
	var out []Held
	for _, c := range cs {
		v, err := renewScript.Run(ctx, p.rdb, ck(c).scriptKeys(node, p.day(now)), p.common(now, node, c)...).StringSlice()
		if err != nil {
			return out, fmt.Errorf("renew node %s's agents in %s: %w", node, c, err)
		}
		for _, a := range v {
			out = append(out, Held{Campaign: c, Agent: a})
		}
	}
	return out, nil
}

// Freed is an agent Reap or Evict logged out.
type Freed struct {
	Campaign, Node, Agent string
	gen                   int64
}

// Reap logs out, with reason node_lost, every agent whose lease expired by
// now in every campaign: their node stopped renewing (it died or lost
// Redis). Any node may run it, as often as it likes: running it twice, or on
// two nodes at once, frees nobody twice. Each agent freed has a "reap"
// event on its campaign's stream.
func (p *Pool) Reap(ctx context.Context) ([]Freed, error) {
	cs, err := p.campaigns(ctx)
	if err != nil {
		return nil, err
	}
	var out []Freed
	for _, c := range cs {
		f, err := p.ReapCampaign(ctx, c)
		out = append(out, f...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// ReapCampaign is Reap for one campaign.
func (p *Pool) ReapCampaign(ctx context.Context, campaign string) ([]Freed, error) {
	if err := checkRef("campaign", campaign); err != nil {
		return nil, err
	}
	now := p.now()
	k := ck(campaign)
	expired, err := p.rdb.ZRangeByScore(ctx, k.lease(), &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(ms(now), 10)}).Result()
	if err != nil || len(expired) == 0 {
		if err != nil {
			err = fmt.Errorf("reap %s: read leases: %w", campaign, err)
		}
		return nil, err
	}
	raw, err := p.rdb.HMGet(ctx, k.state(), expired...).Result()
	if err != nil {
		return nil, fmt.Errorf("reap %s: read states: %w", campaign, err)
	}
	// The script needs each node's own keys: group by node.
	byNode := map[string][]any{}
	for i, a := range expired {
		s, _ := raw[i].(string)
		var e entry
		_ = json.Unmarshal([]byte(s), &e)
		n := e.Node
		if n == "" {
			n = "_" // no state at all: the script only drops the lease
		}
		byNode[n] = append(byNode[n], a)
	}
	nodes := make([]string, 0, len(byNode))
	for n := range byNode {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	var out []Freed
	for _, n := range nodes {
		f, err := p.free(ctx, campaign, n, "expired", ReasonNodeLost, byNode[n])
		out = append(out, f...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// Evict logs out, with reason, every agent node holds in every campaign, at
// once: a node that restarts calls it before it logs anyone in, since the
// legs it held died with it (reason e.g. "node_restarted").
func (p *Pool) Evict(ctx context.Context, node, reason string) ([]Freed, error) {
	if err := checkRef("node", node); err != nil {
		return nil, err
	}
	if err := checkCode("reason", reason); err != nil {
		return nil, err
	}
	cs, err := p.campaigns(ctx)
	if err != nil {
		return nil, err
	}
	var out []Freed
	for _, c := range cs {
		f, err := p.free(ctx, c, node, "evict", reason, nil)
		out = append(out, f...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func (p *Pool) free(ctx context.Context, campaign, node, mode, reason string, agents []any) ([]Freed, error) {
	now := p.now()
	args := append(p.common(now, node, campaign), mode, reason)
	args = append(args, agents...)
	v, err := reapScript.Run(ctx, p.rdb, ck(campaign).scriptKeys(node, p.day(now)), args...).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("%s node %s's agents in %s: %w", mode, node, campaign, err)
	}
	n, _ := strconv.Atoi(v[0])
	n = min(max(n, 0), len(v)-1)
	p.logExits(ctx, campaign, now, v[1:1+n])
	v = v[1+n:]
	var out []Freed
	for i := 0; i+1 < len(v); i += 2 {
		g, _ := strconv.ParseInt(v[i+1], 10, 64)
		f := Freed{Campaign: campaign, Node: node, Agent: v[i], gen: g}
		out = append(out, f)
		if err := p.swapWhere(ctx, f.Agent, location{campaign: campaign, node: node, gen: g}.String(), ""); err != nil && !errors.Is(err, context.Canceled) {
			p.log.Warn("agent: location not cleared (the next login clears it)", "agent", f.Agent, "err", err)
		}
	}
	if len(out) > 0 {
		ids := make([]string, len(out))
		for i, f := range out {
			ids[i] = f.Agent
		}
		p.log.Warn("agent: agents logged out for their node", "campaign", campaign, "node", node, "reason", reason, "count", len(out), "agents", ids)
	}
	return out, nil
}
