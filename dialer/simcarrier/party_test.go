package simcarrier

import (
	"fmt"
	"testing"
)

// People answer a right-party check by who they are: the debtor with 1,
// their proof and their keys; a wrong party with 2; someone who fails with
// a wrong proof twice. The shares hold over many numbers, and a number's
// party is the same every call.
func TestPartiesAnswerTheRightPartyCheck(t *testing.T) {
	c := &Carrier{opt: Options{Digits: "1/1/2", Proof: func(string) string { return "4821" }, WrongParty: 0.2, FailsCheck: 0.1}}
	by := map[Party]int{}
	for i := range 10000 {
		n := fmt.Sprintf("+52155%08d", i)
		p, keys := c.keysFor(n)
		if p != c.PartyFor(n) {
			t.Fatalf("%s: %s then %s", n, p, c.PartyFor(n))
		}
		want := map[Party]string{Debtor: "1/4821/1/1/2", WrongParty: "2/", FailsCheck: "1/5932/5932/"}[p]
		if keys != want {
			t.Fatalf("%s (%s) keys %q, want %q", n, p, keys, want)
		}
		by[p]++
	}
	if by[WrongParty] < 1800 || by[WrongParty] > 2200 || by[FailsCheck] < 850 || by[FailsCheck] > 1150 {
		t.Fatalf("parties %v, want about 20%% wrong and 10%% failing", by)
	}
	c.opt.DigitsFor = func(string) string { return "" }
	if _, keys := c.keysFor("+5215500000000"); keys != "1/4821/" && keys != "2/" && keys != "1/5932/5932/" {
		t.Fatalf("a debtor who only listens: %q", keys)
	}
	c.opt.Proof = nil
	if p, keys := c.keysFor("+5215500000000"); p != Debtor || keys != "" {
		t.Fatalf("no check: %s %q", p, keys)
	}
}
