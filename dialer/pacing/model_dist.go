package pacing

import "math"

// grid is a histogram's bin layout: uniform steps within segments (fine
// where durations are short and the pacer needs to the second, coarse in
// the long tail), then one open-ended bin.
type grid struct {
	edges []float64 // edges[0] = 0; bin i is [edges[i], edges[i+1]); the last bin is [edges[len-1], ∞)
	segs  []gridSeg
}

type gridSeg struct {
	from, to, step float64
	first          int // index of the segment's first bin
}

// newGrid builds a grid from (up to, step) pairs in seconds.
func newGrid(pairs ...[2]float64) *grid {
	g := &grid{edges: []float64{0}}
	from := 0.0
	for _, p := range pairs {
		to, step := p[0], p[1]
		g.segs = append(g.segs, gridSeg{from: from, to: to, step: step, first: len(g.edges) - 1})
		for x := from + step; x < to+step/2; x += step {
			g.edges = append(g.edges, x)
		}
		from = g.edges[len(g.edges)-1]
	}
	return g
}

func (g *grid) bins() int     { return len(g.edges) }
func (g *grid) last() float64 { return g.edges[len(g.edges)-1] }

// bin is the index of the bin holding x ≥ 0.
func (g *grid) bin(x float64) int {
	for _, s := range g.segs {
		if x < s.to {
			i := s.first + int((x-s.from)/s.step)
			return min(i, len(g.edges)-2)
		}
	}
	return len(g.edges) - 1
}

// Handle times: to the second for the first 3 minutes, 5 s to 15 minutes,
// 30 s to 2 hours. Ring times: half-seconds to 2 minutes.
var (
	handleGrid = newGrid([2]float64{180, 1}, [2]float64{900, 5}, [2]float64{7200, 30})
	ringGrid   = newGrid([2]float64{120, 0.5})
)

// Dist is a distribution of durations (seconds) learned online: a histogram
// whose old observations fade, so that about the last Memory observations
// carry the estimate and it follows a campaign whose calls change. It starts
// from a prior worth a few observations. Any shape is learned as it is
// (exponential, lognormal, a fixed wrap-up time), which a parametric fit
// would get wrong in the tail the pacer cares about. Beyond the grid the
// tail is exponential with the mean excess seen there.
type Dist struct {
	g       *grid
	w       []float64 // weight per bin, in units of the current increment scale
	total   float64
	tailSum float64 // weighted sum of excess over the last edge, for the tail's mean
	inc     float64 // weight of the next observation
	grow    float64 // inc grows by this instead of every old weight decaying
	n       int     // real observations
	surv    []float64
	dirty   bool
}

// NewDist returns a distribution over g that remembers about memory
// observations, starting from prior (a CDF) worth priorWeight observations.
func newDist(g *grid, memory float64, prior func(float64) float64, priorWeight float64) *Dist {
	d := &Dist{g: g, w: make([]float64, g.bins()), surv: make([]float64, g.bins()+1), inc: 1, grow: 1 / (1 - 1/memory), dirty: true}
	for i := range d.w {
		lo := prior(g.edges[i])
		hi := 1.0
		if i+1 < len(g.edges) {
			hi = prior(g.edges[i+1])
		}
		d.w[i] = priorWeight * math.Max(hi-lo, 0)
		d.total += d.w[i]
	}
	d.tailSum = d.w[len(d.w)-1] * g.last() / 4 // prior tail mean: a quarter of the grid's span
	return d
}

// Add learns one observation of x seconds.
func (d *Dist) Add(x float64) {
	if !(x >= 0) { // NaN or negative: nothing to learn
		return
	}
	i := d.g.bin(x)
	d.w[i] += d.inc
	d.total += d.inc
	if i == len(d.w)-1 {
		d.tailSum += d.inc * (x - d.g.last())
	}
	d.n++
	d.inc *= d.grow
	if d.inc > 1e100 { // rescale before the numbers overflow
		s := 1 / d.inc
		for j := range d.w {
			d.w[j] *= s
		}
		d.total *= s
		d.tailSum *= s
		d.inc = 1
	}
	d.dirty = true
}

// N is the number of observations learned.
func (d *Dist) N() int { return d.n }

func (d *Dist) refresh() {
	if !d.dirty {
		return
	}
	acc := d.total
	for i, w := range d.w {
		d.surv[i] = acc / d.total
		acc -= w
	}
	d.surv[len(d.w)] = 0
	d.dirty = false
}

// tailMean is the mean excess beyond the grid.
func (d *Dist) tailMean() float64 {
	last := d.w[len(d.w)-1]
	if last <= 0 {
		return d.g.last() / 4
	}
	return math.Max(d.tailSum/last, 1)
}

// Survival is P(X > x).
func (d *Dist) Survival(x float64) float64 {
	if x <= 0 {
		return 1
	}
	d.refresh()
	i := d.g.bin(x)
	if i == len(d.w)-1 {
		return d.surv[i] * math.Exp(-(x-d.g.last())/d.tailMean())
	}
	lo, hi := d.g.edges[i], d.g.edges[i+1]
	return d.surv[i] - (d.surv[i]-d.surv[i+1])*(x-lo)/(hi-lo)
}

// Residual is P(X ≤ e+t | X > e): the chance that something that has
// lasted e seconds ends within t more.
func (d *Dist) Residual(e, t float64) float64 {
	se := d.Survival(e)
	if se < 1e-12 { // beyond anything seen: memoryless with the tail's mean
		return 1 - math.Exp(-t/d.tailMean())
	}
	return math.Min(math.Max(1-d.Survival(e+t)/se, 0), 1)
}

// Mean is the distribution's mean.
func (d *Dist) Mean() float64 {
	var m float64
	for i, w := range d.w[:len(d.w)-1] {
		m += w * (d.g.edges[i] + d.g.edges[i+1]) / 2
	}
	last := d.w[len(d.w)-1]
	m += last*d.g.last() + d.tailSum
	return m / d.total
}

// Quantile is the smallest x with P(X ≤ x) ≥ q.
func (d *Dist) Quantile(q float64) float64 {
	d.refresh()
	for i := 0; i < len(d.w)-1; i++ {
		if 1-d.surv[i+1] >= q {
			lo, hi := d.g.edges[i], d.g.edges[i+1]
			f := (1 - q - d.surv[i+1]) / math.Max(d.surv[i]-d.surv[i+1], 1e-300)
			return hi - f*(hi-lo)
		}
	}
	return d.g.last() - d.tailMean()*math.Log((1-q)/math.Max(d.surv[len(d.w)-1], 1e-300))
}

// lognormalCDF is the CDF of a lognormal distribution with this mean and
// coefficient of variation.
func lognormalCDF(mean, cv float64) func(float64) float64 {
	s2 := math.Log(1 + cv*cv)
	mu, s := math.Log(mean)-s2/2, math.Sqrt(s2)
	return func(x float64) float64 {
		if x <= 0 {
			return 0
		}
		return phi((math.Log(x) - mu) / s)
	}
}

// phi is the standard normal CDF.
func phi(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }
