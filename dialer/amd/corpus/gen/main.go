// Command gen generates the labelled answering-machine corpus with espeak-ng
// and sox (Debian packages espeak-ng and sox): WAV files and manifest.json
// under -dir. The same flags give the same files.
//
//	go run ./dialer/amd/corpus/gen -set test    # .corpus/amd/test, 500 files
//	go run ./dialer/amd/corpus/gen -set tune    # .corpus/amd/tune
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/marcador/marcador/dialer/amd/corpus"
)

func main() {
	set := flag.String("set", "test", "voices: tune (to adjust the detector on) or test (to report on)")
	dir := flag.String("dir", "", "output directory (default .corpus/amd/<set>)")
	seed := flag.Uint64("seed", 0, "random seed (default: 1 for tune, 4 for test)")
	n := flag.Int("n", 500, "recordings")
	flag.Parse()
	if *dir == "" {
		*dir = filepath.Join(".corpus", "amd", *set)
	}
	if *seed == 0 {
		*seed = corpus.DefaultSeed(*set)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	t0 := time.Now()
	m, err := corpus.Generate(ctx, corpus.Options{Dir: *dir, Set: *set, Seed: *seed, N: *n})
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	fmt.Printf("gen: %d recordings (%s set, seed %d) in %s under %s\n", len(m.Entries), m.Set, m.Seed, time.Since(t0).Round(time.Millisecond), *dir)
}
