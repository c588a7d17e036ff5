package media

import "math"

// GoertzelPower is the signal power at freq in samples (8 kHz): how tests and
// the answering-machine detector look for a tone without a full FFT.
func GoertzelPower(samples []int16, freq float64) float64 {
	return goertzel(samples, goertzelCoef(freq))
}

func goertzelCoef(freq float64) float64 { return 2 * math.Cos(2*math.Pi*freq/SampleRate) }

func goertzel(samples []int16, k float64) float64 {
	if len(samples) == 0 {
		return 0
	}
	var s1, s2 float64
	for _, x := range samples {
		s0 := float64(x) + k*s1 - s2
		s2, s1 = s1, s0
	}
	return (s1*s1 + s2*s2 - k*s1*s2) / float64(len(samples))
}

// PureTone estimates the one frequency that best explains samples (8 kHz)
// and the share of their energy at it: about 1 for a pure tone, well under
// 0.5 for speech, noise or two tones at once. It is how the
// answering-machine detector tells a beep from a voice on every 20 ms frame
// without a filter bank: a sinusoid obeys x[n] = 2cos(ω)·x[n-1] − x[n-2], so
// the frame's lag-1 and lag-2 autocorrelations give cos(ω) (corrected for
// white noise, which only adds to lag 0), and Goertzel filters at that
// estimate and ±20/40 Hz around it measure the energy really there. It does
// not allocate.
func PureTone(samples []int16) (freq, share float64) {
	n := len(samples)
	if n < 16 {
		return 0, 0
	}
	var r0, r1, r2 float64
	prev1, prev2 := float64(samples[1]), float64(samples[0])
	r0 = prev2*prev2 + prev1*prev1
	r1 = prev1 * prev2
	for _, s := range samples[2:] {
		x := float64(s)
		r0 += x * x
		r1 += x * prev1
		r2 += x * prev2
		prev2, prev1 = prev1, x
	}
	if r0 == 0 {
		return 0, 0
	}
	rho1 := r1 / r0 * float64(n) / float64(n-1)
	rho2 := r2 / r0 * float64(n) / float64(n-2)
	// ρ1 = g·c, ρ2 = g·(2c²−1), g the tone's share of the power: solve for g.
	g := (-rho2 + math.Sqrt(rho2*rho2+8*rho1*rho1)) / 2
	if g <= 0 {
		return 0, 0
	}
	c := max(-1, min(1, rho1/g))
	f0 := math.Acos(c) * SampleRate / (2 * math.Pi)
	// The five filters run in one pass, side by side, so their recurrences
	// overlap in the CPU.
	var fs, ks [5]float64
	for i, d := range [...]float64{-40, -20, 0, 20, 40} {
		fs[i] = max(1, min(SampleRate/2-1, f0+d))
		ks[i] = goertzelCoef(fs[i])
	}
	var a1, a2, b1, b2, c1, c2, d1, d2, e1, e2 float64
	for _, s := range samples {
		x := float64(s)
		a1, a2 = x+ks[0]*a1-a2, a1
		b1, b2 = x+ks[1]*b1-b2, b1
		c1, c2 = x+ks[2]*c1-c2, c1
		d1, d2 = x+ks[3]*d1-d2, d1
		e1, e2 = x+ks[4]*e1-e2, e1
	}
	pw := [5]float64{
		a1*a1 + a2*a2 - ks[0]*a1*a2, b1*b1 + b2*b2 - ks[1]*b1*b2, c1*c1 + c2*c2 - ks[2]*c1*c2,
		d1*d1 + d2*d2 - ks[3]*d1*d2, e1*e1 + e2*e2 - ks[4]*e1*e2,
	}
	for i, p := range pw {
		// goertzel's power is |X|²/N; twice that over the energy is the share.
		if sh := 2 * p / float64(n) / r0; sh > share {
			freq, share = fs[i], sh
		}
	}
	return freq, share
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
