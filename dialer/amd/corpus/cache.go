package corpus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// CacheDir is where Cached keeps a set generated with seed and n
// recordings: under the system's temporary directory, so tests in several
// packages (and runs) render it once, and nothing is committed.
func CacheDir(set string, seed uint64, n int) string {
	return filepath.Join(os.TempDir(), "marcador-amd-corpus", fmt.Sprintf("%s-%d-%d", set, seed, n))
}

// Cached returns the corpus opt describes from opt.Dir when it holds it
// (the same set, seed and size), and generates it there otherwise. It
// renders into a directory of its own and renames it into place, so
// processes that race for it each see a whole corpus.
func Cached(ctx context.Context, opt Options) (Manifest, error) {
	if m, err := Load(opt.Dir); err == nil && m.Set == opt.Set && m.Seed == opt.Seed && len(m.Entries) == opt.N {
		return m, nil
	}
	if err := os.MkdirAll(filepath.Dir(opt.Dir), 0o755); err != nil {
		return Manifest{}, fmt.Errorf("corpus: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(opt.Dir), filepath.Base(opt.Dir)+".tmp-")
	if err != nil {
		return Manifest{}, fmt.Errorf("corpus: %w", err)
	}
	defer os.RemoveAll(tmp)
	gen := opt
	gen.Dir = tmp
	m, err := Generate(ctx, gen)
	if err != nil {
		return Manifest{}, err
	}
	if err := os.Rename(tmp, opt.Dir); err != nil {
		// Another process put one there first (or a stale one is in the
		// way): use it if it is the same corpus.
		if got, lerr := Load(opt.Dir); lerr == nil && got.Set == opt.Set && got.Seed == opt.Seed && len(got.Entries) == opt.N {
			return got, nil
		}
		return Manifest{}, errors.Join(fmt.Errorf("corpus: %s holds another corpus; remove it", opt.Dir), err)
	}
	return m, nil
}
