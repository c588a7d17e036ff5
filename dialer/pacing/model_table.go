package pacing

// table caches a model's forecast rows (one per elapsed-time step) between
// updates of the model, so that a tick costs a lookup per agent or call
// instead of a fresh computation. Rows are filled when first asked for and
// all dropped together (by generation) when the model has learned enough
// new observations to move, or the horizon changes.
type table struct {
	res   float64 // seconds of elapsed time per row
	width int     // values per row
	rows  []float64
	gen   []uint32 // a row is valid when gen[i] == cur
	cur   uint32
	extra []float64 // per row: one more value a model may keep (e.g. P(live eventually))

	seen  int // observations when last reset
	since int // observations since
}

func newTable(rows int, res float64) *table {
	return &table{res: res, gen: make([]uint32, rows), extra: make([]float64, rows), cur: 1}
}

// reset drops every row and sets the row width.
func (t *table) reset(width int) {
	if t.width != width {
		t.width = width
		t.rows = make([]float64, len(t.gen)*width)
	}
	t.cur++
	t.since = 0
}

// stale says the model has moved since the rows were made: after n
// observations in all, refresh every n/20 new ones (at least 5, at most
// 100) — often while it learns, rarely once it knows.
func (t *table) stale(n int) bool {
	return t.since >= max(5, min(100, n/20))
}

// index is the row for elapsed e seconds.
func (t *table) index(e float64) int {
	return max(0, min(int(e/t.res+0.5), len(t.gen)-1))
}

// row is the row for elapsed e seconds and whether it is already filled.
func (t *table) row(e float64) ([]float64, int, bool) {
	i := t.index(e)
	r := t.rows[i*t.width : (i+1)*t.width]
	if t.gen[i] == t.cur {
		return r, i, true
	}
	t.gen[i] = t.cur
	return r, i, false
}
