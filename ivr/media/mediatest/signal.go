package mediatest

import "math/rand/v2"

// Noisy is x with white Gaussian noise of standard deviation amp added,
// drawn from rng (seeded by the test, so a run repeats).
func Noisy(rng *rand.Rand, x []int16, amp float64) []int16 {
	out := make([]int16, len(x))
	for i, v := range x {
		out[i] = int16(float64(v) + rng.NormFloat64()*amp)
	}
	return out
}

// Mix is a and b sounding at once (sample by sample, as long as a), e.g.
// the two tones of a DTMF digit. The sum must fit in 16 bits.
func Mix(a, b []int16) []int16 {
	out := make([]int16, len(a))
	for i := range a {
		out[i] = a[i] + b[i]
	}
	return out
}
