package amd

import (
	"testing"
	"time"
)

func TestGreetingEnd(t *testing.T) {
	d, err := New(Default())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.GreetingEnd(); ok {
		t.Error("a greeting before any audio")
	}
	// "¿Aló?" from 300 to 700 ms, then waiting: the greeting ends at the
	// word's end, before the decision (short_greeting_silence later).
	o := d.Run(cat(silence(300), word(400, 180), silence(3000)))
	end, ok := d.GreetingEnd()
	if !ok || o.Decision.Result != Human {
		t.Fatalf("%+v, greeting end %v %v", o.Decision, end, ok)
	}
	within(t, "greeting end", end, 700*time.Millisecond, 60*time.Millisecond)
	if end >= o.Decision.At {
		t.Errorf("greeting end %v not before the decision %v", end, o.Decision.At)
	}
	// A silent answer has no greeting.
	d.Reset()
	d.Run(silence(4000))
	if _, ok := d.GreetingEnd(); ok {
		t.Error("a greeting in silence")
	}
}
