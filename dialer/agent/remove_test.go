package agent

import (
	"errors"
	"testing"
)

// Delete is refused while the agent is logged in; once it is out, the
// definition, credentials, SIP user and id are gone and the SIP user is free
// for another agent. The login generation stays while the campaign still
// holds the agent's state, so the same id created again logs in there.
func TestDeleteLoggedOutAgent(t *testing.T) {
	e := newEnv(t)
	c := e.campaign()
	id := e.agent(c)
	e.must(e.p.Login(e.ctx, id, c, "n1", true))
	var te *TransitionError
	if err := e.p.Delete(e.ctx, id); !errors.As(err, &te) || te.Current != Ready || te.Op != "delete" {
		t.Fatalf("delete while ready: %v", err)
	}
	if _, err := e.p.Get(e.ctx, id); err != nil {
		t.Fatalf("a refused delete removed the agent: %v", err)
	}
	e.must(e.p.Logout(e.ctx, id))
	if err := e.p.Delete(e.ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.Get(e.ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if _, err := e.p.Credentials(e.ctx, "u-"+id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("credentials after delete: %v", err)
	}
	if in, _ := e.rdb.SIsMember(e.ctx, idsKey, id).Result(); in {
		t.Fatal("id still listed")
	}
	if err := e.p.Delete(e.ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	// The campaign holds the agent's (logged-out) state: the generation stays.
	if g, _ := e.rdb.HGet(e.ctx, gensKey, id).Int(); g != 1 {
		t.Fatalf("generation %d, want 1 kept", g)
	}
	other := "b-" + rnd()
	e.forget(other)
	if _, _, err := e.p.Put(e.ctx, Definition{ID: other, SIPUser: "u-" + id, Password: testPassword, Campaigns: []string{c}}); err != nil {
		t.Fatalf("the deleted agent's SIP user is not free: %v", err)
	}
	if _, _, err := e.p.Put(e.ctx, Definition{ID: id, SIPUser: "v-" + id, Password: testPassword, Campaigns: []string{c}}); err != nil {
		t.Fatal(err)
	}
	if st := e.must(e.p.Login(e.ctx, id, c, "n1", true)); st.State != Ready {
		t.Fatalf("the same id again: %s", st.State)
	}
}

// With no campaign holding its state, a deleted agent leaves nothing.
func TestDeleteLeavesNothing(t *testing.T) {
	e := newEnv(t)
	c := e.campaign()
	id := e.agent(c)
	e.must(e.p.Login(e.ctx, id, c, "n1", true))
	e.must(e.p.Logout(e.ctx, id))
	if err := e.p.Forget(e.ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := e.rdb.Del(e.ctx, ck(c).state()).Err(); err != nil { // the campaign's keys dropped, as the bench does
		t.Fatal(err)
	}
	if err := e.p.Delete(e.ctx, id); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{whereKey, gensKey} {
		if ok, _ := e.rdb.HExists(e.ctx, k, id).Result(); ok {
			t.Errorf("%s still has the agent", k)
		}
	}
	if ok, _ := e.rdb.HExists(e.ctx, sipUsersKey, "u-"+id).Result(); ok {
		t.Error("SIP user still indexed")
	}
	if n, _ := e.rdb.Exists(e.ctx, defKey(id)).Result(); n != 0 {
		t.Error("definition still there")
	}
}

// Forget is refused while an agent is logged in to the campaign; then the
// lease loops no longer visit it, and a new login puts it back.
func TestForgetCampaign(t *testing.T) {
	e := newEnv(t)
	c, other := e.campaign(), e.campaign()
	id, busy := e.agent(c), e.agent(other)
	e.must(e.p.Login(e.ctx, id, c, "n1", false))
	e.must(e.p.Login(e.ctx, busy, other, "n1", true))
	if err := e.p.Forget(e.ctx, c); !errors.Is(err, ErrCampaignInUse) {
		t.Fatalf("forget with an agent paused in it: %v", err)
	}
	e.must(e.p.Logout(e.ctx, id))
	if err := e.p.Forget(e.ctx, c); err != nil {
		t.Fatal(err)
	}
	camps, err := e.p.campaigns(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range camps {
		if x == c {
			t.Fatal("forgotten campaign still visited")
		}
	}
	held, err := e.p.Renew(e.ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if !containsHeld(held, Held{Campaign: other, Agent: busy}) {
		t.Fatalf("the other campaign's agent not renewed: %v", held)
	}
	e.must(e.p.Login(e.ctx, id, c, "n1", true))
	if in, _ := e.rdb.SIsMember(e.ctx, campaignsKey, c).Result(); !in {
		t.Fatal("a login did not put the campaign back")
	}
}

func containsHeld(hs []Held, h Held) bool {
	for _, x := range hs {
		if x == h {
			return true
		}
	}
	return false
}
