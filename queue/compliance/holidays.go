package compliance

import (
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

//go:embed holidays/*.yaml
var shippedHolidays embed.FS

// Calendars are holiday calendars by country and year.
type Calendars struct {
	days  map[string]map[string]string // country → "2026-12-08" → name
	years map[string]map[int]bool
	log   *slog.Logger
}

type holidayFile struct {
	Country  string `yaml:"country"`
	Year     int    `yaml:"year"`
	Holidays []struct {
		Date string `yaml:"date"`
		Name string `yaml:"name"`
	} `yaml:"holidays"`
}

// LoadCalendars reads the shipped calendars and then every *.yaml in dir
// (when set), which add years or replace a shipped country-year.
func LoadCalendars(dir string, log *slog.Logger) (*Calendars, error) {
	if log == nil {
		log = slog.Default()
	}
	c := &Calendars{days: map[string]map[string]string{}, years: map[string]map[int]bool{}, log: log}
	err := fs.WalkDir(shippedHolidays, "holidays", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := shippedHolidays.ReadFile(path)
		if err != nil {
			return err
		}
		return c.add(path, b)
	})
	if err != nil {
		return nil, err
	}
	if dir != "" {
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("compliance.holidays_dir %s: no *.yaml files", dir)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("holidays: %w", err)
			}
			if err := c.add(f, b); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

func (c *Calendars) add(path string, b []byte) error {
	var f holidayFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("holidays %s: %w", path, err)
	}
	f.Country = strings.ToUpper(f.Country)
	if f.Country == "" || f.Year < 2000 || f.Year > 2200 {
		return fmt.Errorf("holidays %s: want country and year", path)
	}
	if c.days[f.Country] == nil {
		c.days[f.Country], c.years[f.Country] = map[string]string{}, map[int]bool{}
	}
	// A file replaces its country-year entirely.
	prefix := fmt.Sprintf("%04d-", f.Year)
	for d := range c.days[f.Country] {
		if strings.HasPrefix(d, prefix) {
			delete(c.days[f.Country], d)
		}
	}
	for i, h := range f.Holidays {
		t, err := time.Parse(time.DateOnly, h.Date)
		if err != nil || t.Year() != f.Year {
			return fmt.Errorf("holidays %s: entry %d: date %q is not a day of %d", path, i+1, h.Date, f.Year)
		}
		c.days[f.Country][h.Date] = h.Name
	}
	c.years[f.Country][f.Year] = true
	return nil
}

// Holiday names the holiday on the local date of t, or "".
func (c *Calendars) Holiday(country string, t time.Time) string {
	return c.days[country][t.Format(time.DateOnly)]
}

// Has reports whether country's calendar covers year.
func (c *Calendars) Has(country string, year int) bool { return c.years[country][year] }

// Years lists the years a country's calendar covers.
func (c *Calendars) Years(country string) []int {
	var ys []int
	for y := range c.years[country] {
		ys = append(ys, y)
	}
	sort.Ints(ys)
	return ys
}

// CheckCoverage logs a loud warning for every calendar a profile needs that
// lacks the year of now or the next one; it returns the missing ones.
func (c *Calendars) CheckCoverage(profiles map[string]*Profile, now time.Time) []string {
	var missing []string
	seen := map[string]bool{}
	for _, p := range profiles {
		if p.Holidays == "" {
			continue
		}
		for _, y := range []int{now.Year(), now.Year() + 1} {
			k := fmt.Sprintf("%s %d", p.Holidays, y)
			if seen[k] || c.Has(p.Holidays, y) {
				continue
			}
			seen[k] = true
			missing = append(missing, k)
			c.log.Error("HOLIDAY CALENDAR MISSING: add a holidays file for this country and year (compliance.holidays_dir)",
				"country", p.Holidays, "year", y, "profile", p.Name)
		}
	}
	sort.Strings(missing)
	return missing
}
