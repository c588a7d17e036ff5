package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// ErrCampaignInUse is returned by Forget while agents are logged in to the
// campaign.
var ErrCampaignInUse = errors.New("agents are logged in to the campaign")

// deleteScript removes a logged-out agent's definition and its SIP user's
// index entry. KEYS: definition, sip_users, ids, where. ARGV: agent.
// Returns 'ok', 'missing', or 'located' with the agent's location.
var deleteScript = redis.NewScript(`
local loc = redis.call('HGET', KEYS[4], ARGV[1])
if loc then return {'located', loc} end
local sip = redis.call('HGET', KEYS[1], 'sip_user')
if not sip then return {'missing'} end
if redis.call('HGET', KEYS[2], sip) == ARGV[1] then redis.call('HDEL', KEYS[2], sip) end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[3], ARGV[1])
return {'ok'}
`)

// Delete removes a logged-out agent: its definition, credentials and SIP
// user (free for another agent from then on). Refused with a
// *TransitionError while the agent is logged in (log it out first);
// ErrNotFound when it is not defined. Its login generation counter goes
// too, unless a campaign still holds a state entry for it (one the agent
// was defined for, or one agents are known to have logged in to): an agent
// created again under the same id must never log in there with a
// generation that campaign has already seen.
func (p *Pool) Delete(ctx context.Context, id string) error {
	if err := checkRef("id", id); err != nil {
		return err
	}
	a, err := p.Get(ctx, id)
	if err != nil {
		return err
	}
	v, err := deleteScript.Run(ctx, p.rdb, []string{defKey(id), sipUsersKey, idsKey, whereKey}, id).StringSlice()
	if err != nil {
		return fmt.Errorf("agent %s: delete: %w", id, err)
	}
	switch v[0] {
	case "missing":
		return fmt.Errorf("agent %s: %w", id, ErrNotFound)
	case "located":
		st, _ := p.Status(ctx, id)
		if st.State == "" || st.State == LoggedOut {
			st.State = Paused // a location left by a crash: a logout clears it
		}
		return &TransitionError{Agent: id, Op: "delete", Campaign: st.Campaign, Current: st.State, Call: st.Call,
			Detail: "log the agent out first (location " + v[1] + ")"}
	}
	camps, err := p.campaigns(ctx)
	if err != nil {
		return fmt.Errorf("agent %s: deleted; its login generation is kept: %w", id, err)
	}
	for _, c := range append(camps, a.Campaigns...) {
		held, err := p.rdb.HExists(ctx, ck(c).state(), id).Result()
		if err != nil {
			return fmt.Errorf("agent %s: deleted; its login generation is kept: %w", id, err)
		}
		if held {
			p.log.Info("agent: deleted", "agent", id, "generation_kept_for", c)
			return nil
		}
	}
	if err := p.rdb.HDel(ctx, gensKey, id).Err(); err != nil {
		return fmt.Errorf("agent %s: deleted; its login generation is kept: %w", id, err)
	}
	p.log.Info("agent: deleted", "agent", id)
	return nil
}

// forgetScript drops a campaign from the set the lease loops visit unless
// an agent is located in it. KEYS: where, campaigns. ARGV: campaign.
// Returns 'ok' or 'located' with an agent located there.
var forgetScript = redis.NewScript(`
local pre = ARGV[1] .. '|'
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if string.sub(all[i+1], 1, #pre) == pre then return {'located', all[i]} end
end
redis.call('SREM', KEYS[2], ARGV[1])
return {'ok'}
`)

// Forget drops a campaign no agent works any more from the campaigns every
// node's lease loops visit (Renew and Reap run one script per campaign
// there, each tick): for a campaign that is over, or one a benchmark or a
// demo made for itself. The campaign's keys stay (states, events, the
// daily and abandon counters); a later login to the campaign puts it back.
// ErrCampaignInUse while an agent is logged in to it.
func (p *Pool) Forget(ctx context.Context, campaign string) error {
	if err := checkRef("campaign", campaign); err != nil {
		return err
	}
	v, err := forgetScript.Run(ctx, p.rdb, []string{whereKey, campaignsKey}, campaign).StringSlice()
	if err != nil {
		return fmt.Errorf("agent campaign %s: forget: %w", campaign, err)
	}
	if v[0] == "located" {
		return fmt.Errorf("agent campaign %s: forget: agent %s is logged in to it: %w", campaign, v[1], ErrCampaignInUse)
	}
	return nil
}
