package mediatest

import (
	"slices"
	"testing"

	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/ivr/prompts"
)

// Prompts sent through the codec are found in the stream, even one whose
// last words another phrase shares ("... y luego la tecla numeral."), and a
// prompt cut short is not.
func TestDetectorFindsWhatWasSent(t *testing.T) {
	lib := prompts.NewLibrary("")
	get := func(name string) *media.Prompt {
		p, err := lib.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	identify, amount, welcome, balance := get("es/p/inbound-identify"), get("es/p/promise-amount"), get("es/p/inbound-welcome"), get("es/p/balance-is")
	d := NewDetector(media.PCMU, identify, amount, welcome, balance)
	var stream []int16
	send := func(samples []int16) {
		// 20 ms packets through the codec, as a session sends them.
		for i := 0; i < len(samples); i += media.FrameSamples {
			frame := make([]int16, media.FrameSamples)
			copy(frame, samples[i:])
			stream = append(stream, media.PCMU.Decode(nil, media.PCMU.Encode(nil, frame))...)
		}
	}
	send(make([]int16, 333))
	send(welcome.Samples)
	send(identify.Samples)
	send(balance.Samples[:len(balance.Samples)/3]) // barged in
	if got := d.Heard(stream); !slices.Equal(got, []string{"es/p/inbound-identify", "es/p/inbound-welcome"}) {
		t.Fatalf("heard %v", got)
	}
	end := d.EndOf(stream, "es/p/inbound-identify")
	if start := 333 + len(welcome.Samples); end <= start || end > start+len(identify.Samples) {
		t.Fatalf("inbound-identify ends at %d, played from %d for %d", end, start, len(identify.Samples))
	}
	if d.EndOf(stream, "es/p/balance-is") >= 0 || d.EndOf(stream[:end-1], "es/p/inbound-identify") >= 0 {
		t.Fatal("a prompt cut short counted as heard")
	}
}
