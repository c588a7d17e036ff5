package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/marcador/marcador/dialer/amd"
	"github.com/marcador/marcador/dialer/amd/bench"
	"github.com/marcador/marcador/dialer/amd/corpus"
)

// AMDOptions of `bench amd`.
type AMDOptions struct {
	Set        string // corpus set: test (report on it) or tune (adjust on it)
	Dir        string // corpus directory; default .corpus/amd/<Set>
	N          int    // recordings, when generating
	Seed       uint64 // seed, when generating; default corpus.DefaultSeed(Set)
	Regen      bool   // generate the corpus even if Dir has one
	ParamsFile string // YAML AMD parameters to measure instead of the human-first profile
	Misses     bool   // list every file given a wrong result
	JSON       bool   // also print the report as JSON
}

// AMD runs the human-first detector (or ParamsFile's) and the reference
// profile over the labelled corpus, generating it first (espeak-ng and
// sox) when Dir has no manifest.json.
func AMD(ctx context.Context, o AMDOptions, stdout, stderr io.Writer) error {
	if o.Dir == "" {
		o.Dir = filepath.Join(".corpus", "amd", o.Set)
	}
	if o.Seed == 0 {
		o.Seed = corpus.DefaultSeed(o.Set)
	}
	_, err := os.Stat(filepath.Join(o.Dir, "manifest.json"))
	if o.Regen || errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(stderr, "generating %d recordings (%s set, seed %d) under %s...\n", o.N, o.Set, o.Seed, o.Dir)
		t0 := time.Now()
		if _, err := corpus.Generate(ctx, corpus.Options{Dir: o.Dir, Set: o.Set, Seed: o.Seed, N: o.N}); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "generated in %s\n", time.Since(t0).Round(time.Millisecond))
	}
	hf := amd.Default()
	if o.ParamsFile != "" {
		b, err := os.ReadFile(o.ParamsFile)
		if err != nil {
			return err
		}
		if hf, err = amd.ParseParams(b); err != nil {
			return fmt.Errorf("%s: %w", o.ParamsFile, err)
		}
	}
	ref, _ := amd.Profile(amd.Reference)
	rep, err := bench.Run(ctx, o.Dir, []amd.Params{hf, ref})
	if err != nil {
		return err
	}
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	if miss := bench.IssueGoals.Check(rep.Profiles[0], rep.Profiles[1]); len(miss) > 0 {
		fmt.Fprintf(stdout, "\ngoals missed by %s: %v\n", rep.Profiles[0].Profile, miss)
	} else {
		fmt.Fprintf(stdout, "\n%s meets every goal and beats %s on both recalls\n", rep.Profiles[0].Profile, rep.Profiles[1].Profile)
	}
	if o.Misses {
		rep.WriteMisses(stdout)
	}
	if o.JSON {
		return rep.WriteJSON(stdout)
	}
	return nil
}
