package media

import "math"

// GoertzelPower is the signal power at freq in samples (8 kHz): how tests and
// the answering-machine detector look for a tone without a full FFT.
func GoertzelPower(samples []int16, freq float64) float64 {
	if len(samples) == 0 {
		return 0
	}
	k := 2 * math.Cos(2*math.Pi*freq/SampleRate)
	var s1, s2 float64
	for _, x := range samples {
		s0 := float64(x) + k*s1 - s2
		s2, s1 = s1, s0
	}
	return (s1*s1 + s2*s2 - k*s1*s2) / float64(len(samples))
}

// DominantFrequency returns which of the candidate frequencies is strongest.
func DominantFrequency(samples []int16, candidates []float64) float64 {
	best, bestP := 0.0, -1.0
	for _, f := range candidates {
		if p := GoertzelPower(samples, f); p > bestP {
			best, bestP = f, p
		}
	}
	return best
}

// Tone generates n samples of a sine at freq and amplitude amp (8 kHz).
func Tone(freq float64, amp int16, n int) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(float64(amp) * math.Sin(2*math.Pi*freq*float64(i)/SampleRate))
	}
	return out
}
