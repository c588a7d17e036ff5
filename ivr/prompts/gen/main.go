// Command gen renders the shipped prompts with espeak-ng and sox (Debian
// packages espeak-ng and sox): every phrase in phrases.yaml to
// <lang>/p/<name>.wav and every word the say package can speak to
// <lang>/w/<word>.wav, as 8 kHz mono 16-bit WAV.
//
//	go run ./ivr/prompts/gen            # from the repository root
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/marcador/marcador/ivr/say"
)

var voices = map[string]string{"es": "es-419", "en": "en-us"}

func main() {
	dir := "ivr/prompts"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	for _, tool := range []string{"espeak-ng", "sox"} {
		if _, err := exec.LookPath(tool); err != nil {
			fmt.Fprintf(os.Stderr, "gen: needs %s (apt-get install espeak-ng sox)\n", tool)
			os.Exit(1)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "phrases.yaml"))
	if err != nil {
		fail(err)
	}
	var phrases map[string]map[string]string
	if err := yaml.Unmarshal(b, &phrases); err != nil {
		fail(fmt.Errorf("phrases.yaml: %w", err))
	}
	type job struct{ voice, text, out string }
	var jobs []job
	for lang, ps := range phrases {
		for name, text := range ps {
			p := filepath.Join(dir, lang, "p", name+".wav")
			if name == "reminder" || name == "goodbye" {
				p = filepath.Join(dir, lang, name+".wav") // the test-call prompts
			}
			jobs = append(jobs, job{voices[lang], text, p})
		}
		for _, w := range say.Snippets(lang) {
			jobs = append(jobs, job{voices[lang], w, filepath.Join(dir, lang, "w", say.Slug(w)+".wav")})
		}
	}
	sort.Slice(jobs, func(i, j int) bool { return jobs[i].out < jobs[j].out })
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.NumCPU())
	errs := make(chan error, len(jobs))
	for _, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := render(j.voice, j.text, j.out); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		fail(err)
	}
	fmt.Printf("gen: %d prompts rendered under %s\n", len(jobs), dir)
}

func render(voice, text, out string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp := out + ".tmp.wav"
	defer os.Remove(tmp)
	if b, err := exec.Command("espeak-ng", "-v", voice, "-s", "150", "-w", tmp, text).CombinedOutput(); err != nil {
		return fmt.Errorf("espeak-ng %q: %v %s", text, err, b)
	}
	// Trim the synthesiser's leading and trailing silence so snippets join
	// into natural speech; normalise to -3 dBFS.
	if b, err := exec.Command("sox", tmp, "-r", "8000", "-c", "1", "-b", "16", out,
		"silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%", "reverse", "pad", "0", "0.08", "norm", "-3").CombinedOutput(); err != nil {
		return fmt.Errorf("sox %s: %v %s", out, err, b)
	}
	return nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gen:", err)
	os.Exit(1)
}
