// Package bench measures answering-machine detection over a labelled corpus
// (dialer/amd/corpus): for each profile, in the same run on the same files,
// the confusion matrix, human and machine recall, decision time per class
// and how close the beep search comes to each beep.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/marcador/marcador/dialer/amd"
	"github.com/marcador/marcador/dialer/amd/corpus"
	"github.com/marcador/marcador/ivr/media"
)

// BeepTolerance is how far from its labelled start a beep may be found and
// count as found.
const BeepTolerance = 300 * time.Millisecond

// Report is one run over one corpus.
type Report struct {
	Corpus   string          `json:"corpus"`
	Set      string          `json:"set"`
	Seed     uint64          `json:"seed"`
	Files    int             `json:"files"`
	Classes  map[string]int  `json:"classes"`
	Profiles []ProfileReport `json:"profiles"`
}

// ProfileReport is one profile's figures.
type ProfileReport struct {
	Profile string     `json:"profile"`
	Params  amd.Params `json:"-"`
	// Confusion counts results (columns: human, machine, notsure, hangup)
	// per labelled class (rows).
	Confusion map[string]map[amd.Result]int `json:"confusion"`
	// HumanRecall is the share of people treated as people (human or
	// notsure: campaigns treat notsure as a person); HumanRecallStrict
	// counts human only. PeopleAsMachines are the people hung up on.
	HumanRecall       float64 `json:"human_recall"`
	HumanRecallStrict float64 `json:"human_recall_strict"`
	PeopleAsMachines  int     `json:"people_as_machines"`
	// MachineRecall is the share of machines decided machine;
	// MachinePrecision the share of machine decisions that were machines.
	MachineRecall    float64 `json:"machine_recall"`
	MachinePrecision float64 `json:"machine_precision"`
	// FirstMachineRecall counts only machines decided machine at once, not
	// by revising a provisional human or notsure decision (revise_within):
	// the others were treated as people (an agent bridged, a prompt
	// started) for RevisedAfterMS before the revision. PeopleRevised are
	// the people decided human, then machine (among PeopleAsMachines).
	FirstMachineRecall float64     `json:"first_machine_recall"`
	MachinesRevised    int         `json:"machines_revised"`
	RevisedAfterMS     Percentiles `json:"revised_after_ms"`
	PeopleRevised      int         `json:"people_revised"`
	// Correct is the share of each class given its expected result.
	Correct map[string]float64 `json:"correct"`
	// DecisionMS is the decision time per class: p50 and p95 (ms).
	DecisionMS map[string]Percentiles `json:"decision_ms"`
	// AfterGreetingMS is, for the people treated as people, the time from
	// the end of their first words to the decision: what they wait in
	// silence (US rules count 2 s from there to an agent or a message).
	AfterGreetingMS Percentiles `json:"human_after_greeting_ms"`
	Beep            BeepReport  `json:"beep"`
	// Misses lists the files given the wrong result.
	Misses []Miss `json:"misses,omitempty"`
}

// Percentiles of a distribution.
type Percentiles struct {
	P50 int64 `json:"p50"`
	P95 int64 `json:"p95"`
}

// BeepReport is the beep search over the machines this profile decided
// machine.
type BeepReport struct {
	// Beeps: machines decided machine whose recording has a beep; Found:
	// of those, beeps found within BeepTolerance of their start.
	Beeps int `json:"beeps"`
	Found int `json:"found"`
	// FoundRate is Found/Beeps.
	FoundRate float64 `json:"found_rate"`
	// ErrorMS is |found start − labelled start| over the beeps found
	// anywhere: p50, p95 and the worst.
	ErrorMS    Percentiles `json:"error_ms"`
	MaxErrorMS int64       `json:"max_error_ms"`
	// Missed: beeps not found at all, or found further than the tolerance.
	Missed int `json:"missed"`
	// NoBeep: machines decided machine whose recording has no beep;
	// FalseBeeps: of those, a beep was reported.
	NoBeep     int `json:"no_beep"`
	FalseBeeps int `json:"false_beeps"`
	// MessageStartMS: how long after the labelled beep end the message
	// could start (p50, p95), over beeps found.
	MessageAfterBeepEndMS Percentiles `json:"message_after_beep_end_ms"`
}

// Miss is a file given the wrong result.
type Miss struct {
	File   string     `json:"file"`
	Class  string     `json:"class"`
	Kind   string     `json:"kind,omitempty"`
	Result amd.Result `json:"result"`
	Cause  amd.Cause  `json:"cause"`
	AtMS   int64      `json:"at_ms"`
}

// Run classifies every recording of the corpus in dir with each profile.
func Run(ctx context.Context, dir string, profiles []amd.Params) (Report, error) {
	m, err := corpus.Load(dir)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Corpus: dir, Set: m.Set, Seed: m.Seed, Files: len(m.Entries), Classes: map[string]int{}}
	audio := make([][]int16, len(m.Entries))
	for i, e := range m.Entries {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		rep.Classes[e.Class]++
		path := filepath.Join(dir, e.File)
		b, err := os.ReadFile(path)
		if err != nil {
			return rep, fmt.Errorf("bench: %w", err)
		}
		p, err := media.DecodeWAV(path, b)
		if err != nil {
			return rep, fmt.Errorf("bench: %w", err)
		}
		audio[i] = p.Samples
	}
	for _, p := range profiles {
		pr, err := measure(m, audio, p)
		if err != nil {
			return rep, err
		}
		rep.Profiles = append(rep.Profiles, pr)
	}
	return rep, nil
}

func measure(m corpus.Manifest, audio [][]int16, p amd.Params) (ProfileReport, error) {
	t := newTally(p)
	for i, e := range m.Entries {
		o, err := amd.Classify(p, audio[i])
		if err != nil {
			return t.pr, err
		}
		t.classified(e, o)
		if e.Class == corpus.Machine && o.Decision.Result == amd.Machine && p.Beep.MaxWait != 0 {
			t.beep(e, o)
		}
	}
	return t.report(), nil
}

// tally adds up one profile's outcomes over a corpus.
type tally struct {
	pr                                ProfileReport
	perClass, correct                 map[string]int
	times                             map[string][]int64
	beepErr, afterEnd, afterGreeting  []int64
	revisedAfter                      []int64
	calledMachine, calledMachineRight int
}

func newTally(p amd.Params) *tally {
	return &tally{
		pr: ProfileReport{Profile: p.Profile, Params: p, Confusion: map[string]map[amd.Result]int{},
			Correct: map[string]float64{}, DecisionMS: map[string]Percentiles{}},
		perClass: map[string]int{}, correct: map[string]int{}, times: map[string][]int64{},
	}
}

// classified counts one file's decision: right (a person called notsure
// is treated as one) or a miss.
func (t *tally) classified(e corpus.Entry, o amd.Outcome) {
	pr, r := &t.pr, o.Decision.Result
	if pr.Confusion[e.Class] == nil {
		pr.Confusion[e.Class] = map[amd.Result]int{}
	}
	pr.Confusion[e.Class][r]++
	t.perClass[e.Class]++
	t.times[e.Class] = append(t.times[e.Class], o.Decision.At.Milliseconds())
	ok := string(r) == e.Expect
	if e.Class == corpus.Human && r == amd.NotSure {
		ok = true // treated as a person
	}
	if ok {
		t.correct[e.Class]++
		if e.Class == corpus.Human {
			t.afterGreeting = append(t.afterGreeting, o.Decision.At.Milliseconds()-int64(e.GreetingEndMS))
		}
	} else {
		pr.Misses = append(pr.Misses, Miss{File: e.File, Class: e.Class, Kind: e.Kind, Result: r, Cause: o.Decision.Cause, AtMS: o.Decision.At.Milliseconds()})
	}
	if r == amd.Machine {
		t.calledMachine++
		if e.Class == corpus.Machine {
			t.calledMachineRight++
		}
	}
	if o.Decision.Revised {
		switch e.Class {
		case corpus.Machine:
			pr.MachinesRevised++
			t.revisedAfter = append(t.revisedAfter, (o.Decision.At - o.Decision.FirstAt).Milliseconds())
		case corpus.Human:
			pr.PeopleRevised++
		}
	}
}

// beep counts the beep search on a machine rightly called one: found
// within BeepTolerance of the labelled beep, missed, or found where there
// is none.
func (t *tally) beep(e corpus.Entry, o amd.Outcome) {
	b := &t.pr.Beep
	found := o.Beep.Outcome == amd.BeepFound
	if e.BeepMS == nil {
		b.NoBeep++
		if found {
			b.FalseBeeps++
		}
		return
	}
	b.Beeps++
	if !found {
		b.Missed++
		return
	}
	d := abs(o.Beep.Start.Milliseconds() - int64(*e.BeepMS))
	t.beepErr = append(t.beepErr, d)
	if time.Duration(d)*time.Millisecond <= BeepTolerance {
		b.Found++
		t.afterEnd = append(t.afterEnd, o.Beep.At.Milliseconds()-int64(*e.BeepEndMS))
	} else {
		b.Missed++
	}
}

// report turns the counts into rates and percentiles.
func (t *tally) report() ProfileReport {
	pr := t.pr
	for c, n := range t.perClass {
		pr.Correct[c] = float64(t.correct[c]) / float64(n)
		pr.DecisionMS[c] = percentiles(t.times[c])
	}
	if n := t.perClass[corpus.Human]; n > 0 {
		h := pr.Confusion[corpus.Human]
		pr.HumanRecall = float64(h[amd.Human]+h[amd.NotSure]) / float64(n)
		pr.HumanRecallStrict = float64(h[amd.Human]) / float64(n)
		pr.PeopleAsMachines = h[amd.Machine]
	}
	if n := t.perClass[corpus.Machine]; n > 0 {
		pr.MachineRecall = float64(pr.Confusion[corpus.Machine][amd.Machine]) / float64(n)
		pr.FirstMachineRecall = float64(pr.Confusion[corpus.Machine][amd.Machine]-pr.MachinesRevised) / float64(n)
	}
	if t.calledMachine > 0 {
		pr.MachinePrecision = float64(t.calledMachineRight) / float64(t.calledMachine)
	}
	if pr.Beep.Beeps > 0 {
		pr.Beep.FoundRate = float64(pr.Beep.Found) / float64(pr.Beep.Beeps)
	}
	pr.Beep.ErrorMS = percentiles(t.beepErr)
	if len(t.beepErr) > 0 {
		pr.Beep.MaxErrorMS = slices.Max(t.beepErr)
	}
	pr.Beep.MessageAfterBeepEndMS = percentiles(t.afterEnd)
	pr.AfterGreetingMS = percentiles(t.afterGreeting)
	pr.RevisedAfterMS = percentiles(t.revisedAfter)
	return pr
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// percentiles by nearest rank.
func percentiles(xs []int64) Percentiles {
	if len(xs) == 0 {
		return Percentiles{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	at := func(q float64) int64 { return s[max(0, int(math.Ceil(q*float64(len(s))))-1)] }
	return Percentiles{P50: at(0.5), P95: at(0.95)}
}

// Goals are the issue's targets.
type Goals struct {
	HumanRecall, MachineRecall float64
	HumanP50                   time.Duration
	BeepFoundRate              float64 // beeps found within BeepTolerance
}

// IssueGoals: human recall ≥ 98%, machine recall ≥ 90%, human decision p50
// ≤ 1.2 s, every beep found within 300 ms of its start.
var IssueGoals = Goals{HumanRecall: 0.98, MachineRecall: 0.90, HumanP50: 1200 * time.Millisecond, BeepFoundRate: 1}

// Check lists the goals pr misses, and whether it beats ref on both recalls.
func (g Goals) Check(pr, ref ProfileReport) []string {
	var miss []string
	if pr.HumanRecall < g.HumanRecall {
		miss = append(miss, fmt.Sprintf("human recall %.1f%% < %.0f%%", 100*pr.HumanRecall, 100*g.HumanRecall))
	}
	if pr.MachineRecall < g.MachineRecall {
		miss = append(miss, fmt.Sprintf("machine recall %.1f%% < %.0f%%", 100*pr.MachineRecall, 100*g.MachineRecall))
	}
	if p50 := time.Duration(pr.DecisionMS[corpus.Human].P50) * time.Millisecond; p50 > g.HumanP50 {
		miss = append(miss, fmt.Sprintf("human decision p50 %v > %v", p50, g.HumanP50))
	}
	if pr.Beep.FoundRate < g.BeepFoundRate {
		miss = append(miss, fmt.Sprintf("beeps found within %v: %.1f%% < %.0f%%", BeepTolerance, 100*pr.Beep.FoundRate, 100*g.BeepFoundRate))
	}
	if pr.HumanRecall <= ref.HumanRecall && ref.HumanRecall < 1 {
		miss = append(miss, fmt.Sprintf("human recall %.1f%% not above %s's %.1f%%", 100*pr.HumanRecall, ref.Profile, 100*ref.HumanRecall))
	}
	if pr.MachineRecall <= ref.MachineRecall {
		miss = append(miss, fmt.Sprintf("machine recall %.1f%% not above %s's %.1f%%", 100*pr.MachineRecall, ref.Profile, 100*ref.MachineRecall))
	}
	return miss
}

// WriteJSON writes the report as one JSON object.
func (r Report) WriteJSON(w io.Writer) error {
	return json.NewEncoder(w).Encode(r)
}

// WriteTable prints the figures side by side, then each profile's
// confusion matrix.
func (r Report) WriteTable(w io.Writer) error {
	var classes []string
	for _, c := range corpus.Classes() {
		if r.Classes[c] > 0 {
			classes = append(classes, c)
		}
	}
	parts := make([]string, len(classes))
	for i, c := range classes {
		parts[i] = fmt.Sprintf("%d %s", r.Classes[c], c)
	}
	fmt.Fprintf(w, "corpus %s (set %s, seed %d): %d files: %s\n\n", r.Corpus, r.Set, r.Seed, r.Files, strings.Join(parts, ", "))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(name string, f func(p ProfileReport) string) {
		fmt.Fprintf(tw, "%s\t", name)
		for _, p := range r.Profiles {
			fmt.Fprintf(tw, "%s\t", f(p))
		}
		fmt.Fprintln(tw)
	}
	pct := func(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) }
	row("", func(p ProfileReport) string { return p.Profile })
	row("human recall (human+notsure)", func(p ProfileReport) string { return pct(p.HumanRecall) })
	row("human recall (human only)", func(p ProfileReport) string { return pct(p.HumanRecallStrict) })
	row("people decided machine", func(p ProfileReport) string { return fmt.Sprint(p.PeopleAsMachines) })
	row("machine recall", func(p ProfileReport) string { return pct(p.MachineRecall) })
	row("machine precision", func(p ProfileReport) string { return pct(p.MachinePrecision) })
	row("machine recall at first decision", func(p ProfileReport) string { return pct(p.FirstMachineRecall) })
	row("machines revised (from human/notsure)", func(p ProfileReport) string { return fmt.Sprint(p.MachinesRevised) })
	row("  treated as people before, p50/p95 ms", func(p ProfileReport) string {
		return fmt.Sprintf("%d / %d", p.RevisedAfterMS.P50, p.RevisedAfterMS.P95)
	})
	row("people revised to machine", func(p ProfileReport) string { return fmt.Sprint(p.PeopleRevised) })
	for _, c := range classes {
		if c != corpus.Human && c != corpus.Machine {
			row(c+" correct ("+corpus.Expect(c)+")", func(p ProfileReport) string { return pct(p.Correct[c]) })
		}
	}
	for _, c := range classes {
		row("decision p50/p95 ms, "+c, func(p ProfileReport) string {
			d := p.DecisionMS[c]
			return fmt.Sprintf("%d / %d", d.P50, d.P95)
		})
	}
	row("people: greeting end to decision p50/p95 ms", func(p ProfileReport) string {
		return fmt.Sprintf("%d / %d", p.AfterGreetingMS.P50, p.AfterGreetingMS.P95)
	})
	row("beeps found ≤300 ms", func(p ProfileReport) string {
		return fmt.Sprintf("%d/%d (%s)", p.Beep.Found, p.Beep.Beeps, pct(p.Beep.FoundRate))
	})
	row("beep start error p50/p95/max ms", func(p ProfileReport) string {
		return fmt.Sprintf("%d / %d / %d", p.Beep.ErrorMS.P50, p.Beep.ErrorMS.P95, p.Beep.MaxErrorMS)
	})
	row("message after beep end p50/p95 ms", func(p ProfileReport) string {
		return fmt.Sprintf("%d / %d", p.Beep.MessageAfterBeepEndMS.P50, p.Beep.MessageAfterBeepEndMS.P95)
	})
	row("false beeps (no-beep boxes)", func(p ProfileReport) string {
		return fmt.Sprintf("%d/%d", p.Beep.FalseBeeps, p.Beep.NoBeep)
	})
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range r.Profiles {
		if err := p.writeConfusion(w, classes); err != nil {
			return err
		}
	}
	return nil
}

// writeConfusion prints the profile's confusion matrix.
func (p ProfileReport) writeConfusion(w io.Writer, classes []string) error {
	results := []amd.Result{amd.Human, amd.Machine, amd.NotSure, amd.Hangup}
	fmt.Fprintf(w, "\n%s: labelled (rows) vs decided (columns)\n", p.Profile)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "\t")
	for _, res := range results {
		fmt.Fprintf(tw, "%s\t", res)
	}
	fmt.Fprintln(tw)
	for _, c := range classes {
		fmt.Fprintf(tw, "%s\t", c)
		for _, res := range results {
			fmt.Fprintf(tw, "%d\t", p.Confusion[c][res])
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// WriteMisses lists each profile's wrong results, by class and cause.
func (r Report) WriteMisses(w io.Writer) {
	for _, p := range r.Profiles {
		fmt.Fprintf(w, "\n%s: %d wrong\n", p.Profile, len(p.Misses))
		ms := slices.Clone(p.Misses)
		sort.SliceStable(ms, func(i, j int) bool { return ms[i].Class+string(ms[i].Cause) < ms[j].Class+string(ms[j].Cause) })
		for _, m := range ms {
			fmt.Fprintf(w, "  %-28s %-8s %-14s -> %-8s %-22s at %d ms\n", m.File, m.Class, m.Kind, m.Result, m.Cause, m.AtMS)
		}
	}
}
