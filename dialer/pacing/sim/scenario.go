package sim

import (
	"fmt"
	"os"
	"sort"
	"time"

	"go.yaml.in/yaml/v3"
)

// Scenario is a list of changes over the shift, read from YAML:
//
//	events:
//	  - at: 2h            # from the start of the shift
//	    answer_rate: 0.05 # people answer half as often from now on
//	  - at: 1h
//	    break: 12         # 12 agents go on break (busy ones after their call)
//	    for: 15m
//	  - at: 3h
//	    logout: 5         # 5 agents log out (busy ones after their call)
//	  - at: 3h30m
//	    login: 5
//	    machine_rate: 0.3
//	    aht: 200s
type Scenario struct {
	Events []ScenarioEvent `yaml:"events"`
}

// ScenarioEvent is one change; the fields left out do not change.
type ScenarioEvent struct {
	At          time.Duration  `yaml:"at"`
	AnswerRate  *float64       `yaml:"answer_rate"`
	MachineRate *float64       `yaml:"machine_rate"`
	AHT         *time.Duration `yaml:"aht"`
	Login       int            `yaml:"login"`
	Logout      int            `yaml:"logout"`
	Break       int            `yaml:"break"`
	For         time.Duration  `yaml:"for"`
}

// LoadScenario reads and checks a scenario file.
func LoadScenario(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	return ParseScenario(b)
}

// ParseScenario parses and checks a scenario.
func ParseScenario(b []byte) (*Scenario, error) {
	var s Scenario
	if err := yaml.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	for i, e := range s.Events {
		where := fmt.Sprintf("scenario: events[%d]", i)
		switch {
		case e.At < 0:
			return nil, fmt.Errorf("%s.at %v: must not be negative", where, e.At)
		case e.AnswerRate != nil && (*e.AnswerRate < 0 || *e.AnswerRate > 1):
			return nil, fmt.Errorf("%s.answer_rate %v: want 0..1", where, *e.AnswerRate)
		case e.MachineRate != nil && (*e.MachineRate < 0 || *e.MachineRate > 1):
			return nil, fmt.Errorf("%s.machine_rate %v: want 0..1", where, *e.MachineRate)
		case e.AHT != nil && *e.AHT <= 0:
			return nil, fmt.Errorf("%s.aht %v: must be positive", where, *e.AHT)
		case e.Login < 0 || e.Logout < 0 || e.Break < 0:
			return nil, fmt.Errorf("%s: login, logout and break must not be negative", where)
		case e.Break > 0 && e.For <= 0:
			return nil, fmt.Errorf("%s: a break needs a positive 'for'", where)
		}
	}
	sort.SliceStable(s.Events, func(i, j int) bool { return s.Events[i].At < s.Events[j].At })
	return &s, nil
}

// apply makes one change. Agents who leave are taken from the end of the
// list; busy ones leave after their call and wrap-up.
func (w *world) apply(e *ScenarioEvent) {
	if e.AnswerRate != nil {
		w.answerRate = *e.AnswerRate
	}
	if e.MachineRate != nil {
		w.machineRate = *e.MachineRate
	}
	if e.AHT != nil {
		w.aht = *e.AHT
	}
	for n, i := e.Login, 0; n > 0; i++ {
		if i == len(w.agents) {
			w.agents = append(w.agents, agent{state: aOut, call: -1, since: w.now})
		}
		if w.agents[i].state == aOut {
			w.setState(i, aReady)
			w.serveWaiting(i)
			n--
		}
	}
	for n, i := e.Logout, len(w.agents)-1; n > 0 && i >= 0; i-- {
		a := &w.agents[i]
		switch {
		case a.state == aOut || a.leaving != leaveNone:
			continue
		case a.state == aReady || a.state == aPaused:
			w.setState(i, aOut)
		default:
			a.leaving = leaveLogout
		}
		n--
	}
	for n, i := e.Break, len(w.agents)-1; n > 0 && i >= 0; i-- {
		a := &w.agents[i]
		switch {
		case a.state == aOut || a.state == aPaused || a.leaving != leaveNone:
			continue
		case a.state == aReady:
			a.breakFor = int64(e.For)
			w.pause(i)
		default:
			a.breakFor = int64(e.For)
			a.leaving = leavePause
		}
		n--
	}
}
