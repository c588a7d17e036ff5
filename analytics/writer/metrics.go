package writer

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/spool"
)

// Metrics are the writer's Prometheus collectors. A nil *Metrics is valid and
// records nothing.
type Metrics struct {
	reg          prometheus.Registerer
	flushedRows  prometheus.Counter
	flushErrors  prometheus.Counter
	corruptRecs  prometheus.Counter
	flushSeconds prometheus.Histogram
	full         prometheus.Gauge
	quarantined  *prometheus.CounterVec
	refused      prometheus.Counter
}

// NewMetrics creates the collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reg: reg,
		flushedRows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "marcador_writer_flushed_rows_total", Help: "Rows accepted by ClickHouse."}),
		flushErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "marcador_writer_flush_errors_total", Help: "Failed batch inserts (rows stay spooled and are retried)."}),
		corruptRecs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "marcador_writer_corrupt_records_total", Help: "Spooled records that could not be decoded (quarantined)."}),
		flushSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "marcador_writer_flush_seconds", Help: "Time to insert one spool segment.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
		full: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "marcador_writer_spool_full", Help: "1 while the spool is at max_bytes and writers are held back."}),
		quarantined: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "marcador_writer_quarantined_rows_total",
			Help: "Rows refused for their data (by ClickHouse, the driver or the column check) and moved to quarantine/."},
			[]string{"table"}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "marcador_writer_refused_batches_total",
			Help: "Batch inserts refused for their data; each is split to find the refused rows."}),
	}
	reg.MustRegister(m.flushedRows, m.flushErrors, m.corruptRecs, m.flushSeconds, m.full, m.quarantined, m.refused)
	for _, t := range analytics.Tables() {
		m.quarantined.WithLabelValues(t.Name) // exported as 0 from the start, so rate() and alerts see it
	}
	return m
}

// bind adds the gauges read from the live spool.
func (m *Metrics) bind(s *spool.Spool, now func() time.Time) {
	if m == nil {
		return
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "marcador_writer_queued_rows", Help: "Rows spooled and not yet in ClickHouse."},
			func() float64 { return float64(s.Records()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "marcador_writer_spool_bytes", Help: "Bytes in the on-disk spool."},
			func() float64 { return float64(s.Bytes()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "marcador_writer_oldest_unsent_seconds", Help: "Age of the oldest row not yet in ClickHouse (0 when none)."},
			func() float64 {
				if t := s.Oldest(); !t.IsZero() {
					return max(0, now().Sub(t).Seconds())
				}
				return 0
			}),
	)
}

func (m *Metrics) flushed(rows int, d time.Duration) {
	if m == nil {
		return
	}
	m.flushedRows.Add(float64(rows))
	m.flushSeconds.Observe(d.Seconds())
}

func (m *Metrics) flushError() {
	if m != nil {
		m.flushErrors.Inc()
	}
}

func (m *Metrics) corrupt(n int) {
	if m != nil {
		m.corruptRecs.Add(float64(n))
	}
}

func (m *Metrics) quarantinedRow(table string) {
	if m != nil {
		m.quarantined.WithLabelValues(table).Inc()
	}
}

func (m *Metrics) refusedBatch() {
	if m != nil {
		m.refused.Inc()
	}
}

func (m *Metrics) setFull(full bool) {
	if m == nil {
		return
	}
	if full {
		m.full.Set(1)
	} else {
		m.full.Set(0)
	}
}
