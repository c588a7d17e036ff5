package amd

import (
	"fmt"
	"os"

	"github.com/marcador/marcador/ivr/media"
)

// Outcome is what a recording classified as.
type Outcome struct {
	Decision Decision
	// Beep is set (Outcome non-empty) for a machine when the beep search is on.
	Beep Beep
}

// Classify runs a detector over a whole recording (8 kHz samples), 20 ms at
// a time as a call would feed it. A recording that ends before a decision is
// a hangup, and one that ends during the beep search ends it with
// BeepHangup: the recording is the call.
func Classify(p Params, samples []int16) (Outcome, error) {
	d, err := New(p)
	if err != nil {
		return Outcome{}, err
	}
	return d.Run(samples), nil
}

// Run feeds a whole recording to a new (or Reset) detector, as Classify does.
func (d *Detector) Run(samples []int16) Outcome {
	for i := 0; i < len(samples) && !d.Done(); i += FrameSamples {
		d.Feed(samples[i:min(i+FrameSamples, len(samples))])
	}
	if !d.Done() {
		d.Hangup()
	}
	var o Outcome
	o.Decision, _ = d.Decision()
	o.Beep, _ = d.Beep()
	return o
}

// ClassifyFile classifies a WAV recording (see LoadWAV).
func ClassifyFile(p Params, path string) (Outcome, error) {
	x, err := LoadWAV(path)
	if err != nil {
		return Outcome{}, err
	}
	return Classify(p, x)
}

// LoadWAV reads a recording as the detector hears it: any PCM WAV,
// converted to 8 kHz mono as prompts are (media.DecodeWAV).
func LoadWAV(path string) ([]int16, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("amd: %w", err)
	}
	pr, err := media.DecodeWAV(path, b)
	if err != nil {
		return nil, fmt.Errorf("amd: %w", err)
	}
	return pr.Samples, nil
}

// Report is the one-line JSON form of an outcome (`marcador amd`).
type Report struct {
	File       string `json:"file"`
	Result     Result `json:"result"`
	Cause      Cause  `json:"cause"`
	DecisionMS int64  `json:"decision_ms"`
	// BeepMS is the beep's start, null when none was found.
	BeepMS *int64 `json:"beep_ms"`
	// Beep is how the beep search ended (beep, silence, timeout, hangup),
	// empty when there was none (not a machine, or the search is off).
	Beep BeepOutcome `json:"beep,omitempty"`
	// RevisedFrom and FirstMS, for a machine decision that revised a
	// provisional one (revise_within): that decision (human or notsure) and
	// when it was made.
	RevisedFrom Result `json:"revised_from,omitempty"`
	FirstMS     *int64 `json:"first_decision_ms,omitempty"`
}

// Report formats o for file.
func (o Outcome) Report(file string) Report {
	r := Report{File: file, Result: o.Decision.Result, Cause: o.Decision.Cause, DecisionMS: o.Decision.At.Milliseconds(), Beep: o.Beep.Outcome}
	if o.Beep.Outcome == BeepFound {
		ms := o.Beep.Start.Milliseconds()
		r.BeepMS = &ms
	}
	if o.Decision.Revised {
		ms := o.Decision.FirstAt.Milliseconds()
		r.RevisedFrom, r.FirstMS = o.Decision.From, &ms
	}
	return r
}
