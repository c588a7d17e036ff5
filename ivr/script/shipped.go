package script

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

//go:embed shipped/*.yaml
var shipped embed.FS

// Shipped loads the scripts that come with Marcador.
func Shipped() (map[string]*Script, error) {
	out := map[string]*Script{}
	err := fs.WalkDir(shipped, "shipped", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := shipped.ReadFile(p)
		if err != nil {
			return err
		}
		s, err := Parse(p, b)
		if err != nil {
			return err
		}
		out[s.Name] = s
		return nil
	})
	return out, err
}

// LoadDir loads every *.yaml in dir; a script named like a shipped one replaces it.
func LoadDir(dir string) (map[string]*Script, error) {
	out, err := Shipped()
	if err != nil || dir == "" {
		return out, err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("script: %w", err)
		}
		s, err := Parse(f, b)
		if err != nil {
			return nil, err
		}
		out[s.Name] = s
	}
	return out, nil
}
