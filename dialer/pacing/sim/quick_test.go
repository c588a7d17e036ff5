package sim

import (
	"testing"

	"github.com/marcador/marcador/dialer/pacing"
)

func TestQuickProgressive(t *testing.T) {
	p := Defaults()
	r := Run(p, pacing.NewProgressive())
	t.Logf("%+v", r)
}

func TestQuickVicidial(t *testing.T) {
	for _, m := range []pacing.VicidialMode{pacing.AdaptHardLimit, pacing.AdaptAverage, pacing.AdaptTapered} {
		for _, ar := range []float64{0.1, 0.2, 0.35} {
			p := Defaults()
			p.AnswerRate = ar
			r := Run(p, pacing.NewVicidial(pacing.VicidialConfig{Mode: m}))
			t.Logf("%v %.2f occ %.3f ab %.4f worst %.3f dials %d", m, ar, r.Occupancy, r.AbandonRate, r.AbandonRateWorstHour, r.Dials)
		}
	}
}
