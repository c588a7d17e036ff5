package kpi

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/marcador/marcador/analytics"
)

// Cell is one local weekday and hour of the best-time-to-call grid.
type Cell struct {
	// Group is the country or segment the cell is of, when asked for.
	Group       string   `json:"group,omitempty"`
	Weekday     uint8    `json:"weekday"` // ISO: 1 = Monday ... 7 = Sunday; 0 when unknown
	Hour        uint8    `json:"hour"`    // the debtor's local hour
	Attempts    uint64   `json:"attempts"`
	Contacts    uint64   `json:"contacts"`
	RPC         uint64   `json:"rpc"`
	ContactRate *float64 `json:"contact_rate"`
	RPCRate     *float64 `json:"rpc_rate"`
}

// BestTime is the contact and right-party rates of f by the debtor's local
// weekday and hour, with the attempts behind each cell so thin cells are
// visible; by is "", "country" or "segment".
func (k *KPI) BestTime(ctx context.Context, f Filter, by string, src Source) ([]Cell, error) {
	if by != "" && by != "country" && by != "segment" {
		return nil, &analytics.FieldError{Field: "by", Reason: fmt.Sprintf("%q: want country or segment", clipped(by))}
	}
	rd, err := k.reader(ctx, f, ByNone, src)
	if err != nil {
		return nil, err
	}
	return rd.bestTime(ctx, by)
}

func (rd *reader) bestTime(ctx context.Context, by string) ([]Cell, error) {
	if len(rd.f.Agents) > 0 {
		return nil, &analytics.FieldError{Field: "agent", Reason: "the best time to call is not kept per agent"}
	}
	from, to := rd.f.Range()
	src, c := rd.attemptSource(from, to, false)
	group := "''"
	if by != "" {
		group = by
	}
	q := `SELECT ` + group + ` AS g, local_weekday, local_hour, sum(attempts), sum(contacts), sum(rpc)
FROM ` + src + ` WHERE ` + c.String() + ` GROUP BY g, local_weekday, local_hour HAVING sum(attempts) > 0
ORDER BY g, local_weekday, local_hour`
	var out []Cell
	err := rd.k.query(ctx, "best time", q, c.args, func(r driver.Rows) error {
		var x Cell
		if err := r.Scan(&x.Group, &x.Weekday, &x.Hour, &x.Attempts, &x.Contacts, &x.RPC); err != nil {
			return err
		}
		x.ContactRate = ratio(float64(x.Contacts), float64(x.Attempts))
		x.RPCRate = ratio(float64(x.RPC), float64(x.Attempts))
		out = append(out, x)
		return nil
	})
	return out, err
}
