package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// reviseScript moves one call from the live answers (and the abandons) to
// the machines of a day, once per call: the day's set of revised calls
// remembers it, so a replay changes nothing. A count already at 0 (the
// live answer was counted the day before, a call across midnight) is left
// at 0 rather than made negative.
//
// KEYS[1] the day's answers hash, KEYS[2] the day's revised calls
// ARGV[1] the call, ARGV[2] "1" when its live answer was also abandoned,
// ARGV[3] the keys' retention (s)
var reviseScript = redis.NewScript(`
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('EXPIRE', KEYS[2], ARGV[3])
local function less(f)
  if tonumber(redis.call('HGET', KEYS[1], f) or '0') > 0 then redis.call('HINCRBY', KEYS[1], f, -1) end
end
less('live')
if ARGV[2] == '1' then less('abandoned') end
redis.call('HINCRBY', KEYS[1], 'machine', 1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
`)

// Revise corrects the campaign's counts of today (in zone, nil UTC) for
// call, counted a live answer (and an abandon, when abandoned) that
// answering-machine detection later found to be a machine: a live answer
// less, a machine more, in one script. Once per call: false when call was
// revised already (a retry after a lost reply).
func (p *Pool) Revise(ctx context.Context, campaign, call string, abandoned bool, zone *time.Location) (bool, error) {
	if err := checkRef("campaign", campaign); err != nil {
		return false, err
	}
	if call == "" {
		return false, fmt.Errorf("revise a count in %s: no call id", campaign)
	}
	if zone == nil {
		zone = time.UTC
	}
	day := p.now().In(zone).Format(dayFmt)
	k := ck(campaign)
	ab := "0"
	if abandoned {
		ab = "1"
	}
	n, err := reviseScript.Run(ctx, p.rdb, []string{k.answers(day), k.revised(day)}, call, ab, int(retention/time.Second)).Int()
	if err != nil {
		return false, fmt.Errorf("revise call %s of %s to a machine: %w", call, campaign, err)
	}
	return n == 1, nil
}
