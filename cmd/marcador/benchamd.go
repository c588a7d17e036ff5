package main

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

func benchAMD(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench amd", "bench amd [-corpus DIR] [-set test|tune] [-n 500] [-seed N] [-regen] [-params FILE.yaml] [-misses] [-json]\n\n"+
		"Runs the human-first detector (or -params) and the reference profile over the labelled corpus,\n"+
		"generating it first (espeak-ng and sox) when DIR has no manifest.json.", stderr)
	set := fs.String("set", "test", "corpus set: test (report on it) or tune (adjust on it)")
	dir := fs.String("corpus", "", "corpus directory (default .corpus/amd/<set>)")
	n := fs.Int("n", 500, "recordings, when generating")
	seed := fs.Uint64("seed", 0, "seed, when generating (default 1 for tune, 4 for test)")
	regen := fs.Bool("regen", false, "generate the corpus even if DIR has one")
	paramsFile := fs.String("params", "", "YAML AMD parameters to measure instead of the human-first profile")
	misses := fs.Bool("misses", false, "list every file given a wrong result")
	asJSON := fs.Bool("json", false, "also print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		*dir = filepath.Join(".corpus", "amd", *set)
	}
	if *seed == 0 {
		*seed = corpus.DefaultSeed(*set)
	}
	_, err := os.Stat(filepath.Join(*dir, "manifest.json"))
	if *regen || errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(stderr, "generating %d recordings (%s set, seed %d) under %s...\n", *n, *set, *seed, *dir)
		t0 := time.Now()
		if _, err := corpus.Generate(ctx, corpus.Options{Dir: *dir, Set: *set, Seed: *seed, N: *n}); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "generated in %s\n", time.Since(t0).Round(time.Millisecond))
	}
	hf := amd.Default()
	if *paramsFile != "" {
		b, err := os.ReadFile(*paramsFile)
		if err != nil {
			return err
		}
		if hf, err = amd.ParseParams(b); err != nil {
			return fmt.Errorf("%s: %w", *paramsFile, err)
		}
	}
	ref, _ := amd.Profile(amd.Reference)
	rep, err := bench.Run(ctx, *dir, []amd.Params{hf, ref})
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
	if *misses {
		rep.WriteMisses(stdout)
	}
	if *asJSON {
		return rep.WriteJSON(stdout)
	}
	return nil
}
