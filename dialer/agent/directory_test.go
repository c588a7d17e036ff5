package agent

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestDefinitionValidation(t *testing.T) {
	e := newEnv(t)
	good := func() Definition {
		return Definition{ID: "a-" + rnd(), SIPUser: "u" + rnd(), Password: testPassword, Campaigns: []string{"c1"}}
	}
	cases := []struct {
		name  string
		edit  func(*Definition)
		field string
	}{
		{"empty id", func(d *Definition) { d.ID = "" }, "id"},
		{"id with a brace", func(d *Definition) { d.ID = "a}{b" }, "id"},
		{"id too long", func(d *Definition) { d.ID = strings.Repeat("a", 65) }, "id"},
		{"name with a control character", func(d *Definition) { d.Name = "Ana\x07" }, "name"},
		{"name with a bidi override", func(d *Definition) { d.Name = "Ana\u202eoiraM" }, "name"},
		{"name too long", func(d *Definition) { d.Name = strings.Repeat("n", 201) }, "name"},
		{"no sip user", func(d *Definition) { d.SIPUser = "" }, "sip_user"},
		{"sip user with a colon", func(d *Definition) { d.SIPUser = "ana:x" }, "sip_user"},
		{"sip user with a quote", func(d *Definition) { d.SIPUser = `ana"` }, "sip_user"},
		{"sip user with an at", func(d *Definition) { d.SIPUser = "ana@example.com" }, "sip_user"},
		{"short password", func(d *Definition) { d.Password = "1234567" }, "password"},
		{"long password", func(d *Definition) { d.Password = strings.Repeat("p", 129) }, "password"},
		{"password with a line break", func(d *Definition) { d.Password = "abcd\nefgh" }, "password"},
		{"bad campaign", func(d *Definition) { d.Campaigns = []string{"c1", "bad id"} }, "campaigns[1]"},
		{"too many campaigns", func(d *Definition) { d.Campaigns = make([]string, 257) }, "campaigns"},
		{"unknown language", func(d *Definition) { d.Language = "fr" }, "language"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := good()
			e.forget(d.ID)
			c.edit(&d)
			_, _, err := e.p.Put(e.ctx, d)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != c.field {
				t.Fatalf("Put: %v, want a field error on %s", err, c.field)
			}
			if d.Password != "" && strings.Contains(err.Error(), d.Password) {
				t.Fatalf("the error quotes the password: %v", err)
			}
			if _, err := e.p.Get(e.ctx, d.ID); d.ID != "" && c.field != "id" && !errors.Is(err, ErrNotFound) {
				t.Fatalf("a refused definition was stored: %v", err)
			}
		})
	}
	// Defaults: name from id, language es, campaigns deduplicated.
	d := good()
	e.forget(d.ID)
	d.Campaigns = []string{"c1", "c2", "c1"}
	a, created, err := e.p.Put(e.ctx, d)
	if err != nil || !created {
		t.Fatalf("Put: %v created=%v", err, created)
	}
	if a.Name != d.ID || a.Language != "es" || strings.Join(a.Campaigns, ",") != "c1,c2" {
		t.Fatalf("defaults: %+v", a)
	}
}

func TestPutGetListUpdate(t *testing.T) {
	e := newEnv(t)
	id, other := "a-"+rnd(), "a-"+rnd()
	e.forget(id)
	e.forget(other)
	sip := "ana" + rnd()
	a, created, err := e.p.Put(e.ctx, Definition{ID: id, Name: "Ana Pérez", SIPUser: sip, Password: testPassword,
		Campaigns: []string{"c1"}, Language: "EN"})
	if err != nil || !created {
		t.Fatalf("create: %v %v", err, created)
	}
	if a.Name != "Ana Pérez" || a.SIPUser != sip || a.Language != "en" || !a.Created.Equal(base) || !a.Updated.Equal(base) {
		t.Fatalf("created: %+v", a)
	}
	// Update without a password keeps the credentials; created_at stays.
	before, _ := e.p.Credentials(e.ctx, sip)
	e.clk.Add(time.Hour)
	a, created, err = e.p.Put(e.ctx, Definition{ID: id, Name: "Ana P.", SIPUser: sip, Campaigns: []string{"c1", "c2"}})
	if err != nil || created {
		t.Fatalf("update: %v created=%v", err, created)
	}
	if a.Name != "Ana P." || len(a.Campaigns) != 2 || !a.Created.Equal(base) || !a.Updated.Equal(base.Add(time.Hour)) {
		t.Fatalf("updated: %+v", a)
	}
	if after, _ := e.p.Credentials(e.ctx, sip); after != before || after.HA1MD5 == "" {
		t.Fatalf("credentials changed by an update without password")
	}
	// A SIP user is one agent's.
	_, _, err = e.p.Put(e.ctx, Definition{ID: other, SIPUser: sip, Password: testPassword})
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "sip_user" || !strings.Contains(fe.Reason, id) {
		t.Fatalf("second agent with the same sip user: %v", err)
	}
	// Creating needs a password; changing the SIP user needs one too.
	if _, _, err = e.p.Put(e.ctx, Definition{ID: other, SIPUser: "x" + rnd()}); !errors.As(err, &fe) || fe.Field != "password" {
		t.Fatalf("create without password: %v", err)
	}
	if _, _, err = e.p.Put(e.ctx, Definition{ID: id, SIPUser: "new" + rnd()}); !errors.As(err, &fe) || fe.Field != "password" {
		t.Fatalf("sip user change without password: %v", err)
	}
	// Changing it with one frees the old user for others.
	newSIP := "new" + rnd()
	if _, _, err = e.p.Put(e.ctx, Definition{ID: id, SIPUser: newSIP, Password: "another-pass"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.BySIPUser(e.ctx, sip); !errors.Is(err, ErrNotFound) {
		t.Fatalf("old sip user still found: %v", err)
	}
	if b, err := e.p.BySIPUser(e.ctx, newSIP); err != nil || b.ID != id {
		t.Fatalf("BySIPUser: %+v %v", b, err)
	}
	if _, _, err = e.p.Put(e.ctx, Definition{ID: other, SIPUser: sip, Password: testPassword}); err != nil {
		t.Fatalf("old sip user not freed: %v", err)
	}
	// A realm change needs the password again (the stored HA1 is for the old realm).
	p2 := New(Options{Client: e.rdb, Realm: "other.example", Now: e.clk.Now, Logger: quietLog()})
	if _, _, err = p2.Put(e.ctx, Definition{ID: id, SIPUser: newSIP}); !errors.As(err, &fe) || fe.Field != "password" {
		t.Fatalf("realm change without password: %v", err)
	}
	list, err := e.p.List(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, x := range list {
		if x.ID == id || x.ID == other {
			found++
		}
	}
	if found != 2 {
		t.Fatalf("List has %d of the 2 agents", found)
	}
	if _, err := e.p.Get(e.ctx, "a-missing-"+rnd()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get missing: %v", err)
	}
}

// RFC 7616 section 3.9.1: the example's responses, computed from the HA1
// values Put stores, prove both hashes are the ones a SIP phone computes.
func TestCredentialsDigest(t *testing.T) {
	e := newEnv(t)
	const realm, pass = "http-auth@example.org", "Circle of Life"
	p := New(Options{Client: e.rdb, Realm: realm, Now: e.clk.Now, Logger: quietLog()})
	id := "a-" + rnd()
	e.forget(id)
	// The directory is shared: take the example's user only for this test.
	sip := "Mufasa"
	if owner, err := e.rdb.HGet(e.ctx, sipUsersKey, sip).Result(); err == nil {
		t.Skipf("sip user Mufasa is agent %s's on this Redis", owner)
	}
	if _, _, err := p.Put(e.ctx, Definition{ID: id, SIPUser: sip, Password: pass}); err != nil {
		t.Fatal(err)
	}
	c, err := p.Credentials(e.ctx, sip)
	if err != nil {
		t.Fatal(err)
	}
	if c.Agent != id || c.Realm != realm {
		t.Fatalf("credentials: %v", c)
	}
	const nonce, cnonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
	resp := func(h func(string) string, ha1 string) string {
		ha2 := h("GET:/dir/index.html")
		return h(ha1 + ":" + nonce + ":00000001:" + cnonce + ":auth:" + ha2)
	}
	md := func(s string) string { x := md5.Sum([]byte(s)); return hex.EncodeToString(x[:]) }
	sh := func(s string) string { x := sha256.Sum256([]byte(s)); return hex.EncodeToString(x[:]) }
	if got := resp(md, c.HA1MD5); got != "8ca523f5e9506fed4657c9700eebdbec" {
		t.Errorf("MD5 response %s, RFC 7616 says 8ca523f5e9506fed4657c9700eebdbec", got)
	}
	if got := resp(sh, c.HA1SHA256); got != "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1" {
		t.Errorf("SHA-256 response %s, RFC 7616 says 753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", got)
	}
	// RFC 2617 section 3.5's HA1 for its own example.
	if h, _ := HA1("md5", "Mufasa", "testrealm@host.com", "Circle Of Life"); h != "939e7578ed9e3c518a452acee763bce9" {
		t.Errorf("HA1 MD5 %s", h)
	}
	if _, err := HA1("SHA-512-256", "a", "b", "c"); err == nil {
		t.Error("unknown algorithm accepted")
	}
	if _, err := p.Credentials(e.ctx, "nobody-"+rnd()); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown sip user: %v", err)
	}
}

// The password is never stored, logged, encoded or returned; the HA1 values
// only by Credentials.
func TestCredentialsNeverReadBack(t *testing.T) {
	e := newEnv(t)
	var logs bytes.Buffer
	e.p = New(Options{Client: e.rdb, Now: e.clk.Now, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	c := e.campaign()
	id := "a-" + rnd()
	e.forget(id)
	pass := "pw-" + rnd() + "-never-seen"
	d := Definition{ID: id, SIPUser: "u-" + id, Password: pass, Campaigns: []string{c}}
	a, _, err := e.p.Put(e.ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	cred, _ := e.p.Credentials(e.ctx, d.SIPUser)
	secrets := []string{pass, cred.HA1MD5, cred.HA1SHA256}
	check := func(what, s string) {
		t.Helper()
		for _, x := range secrets {
			if strings.Contains(s, x) {
				t.Errorf("%s shows a secret: %s", what, s)
			}
		}
	}
	// Everything an API or a log line could carry.
	st := e.must(e.p.Login(e.ctx, id, c, "n1", true))
	roster, _ := e.p.Roster(e.ctx)
	list, _ := e.p.List(e.ctx)
	for what, v := range map[string]any{"Agent": a, "Definition": d, "Status": st, "roster": roster, "list": list, "Credentials": cred} {
		b, _ := json.Marshal(v)
		check(what+" JSON", string(b))
		check(what+" %v", fmt.Sprintf("%v", v))
		check(what+" %+v", fmt.Sprintf("%+v", v))
		check(what+" %#v", fmt.Sprintf("%#v", v))
	}
	slog.New(slog.NewTextHandler(&logs, nil)).Info("def", "d", d, "cred", cred)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("def", "d", d, "cred", cred)
	check("logs", logs.String())
	// Redis holds no password anywhere the agent is.
	for _, k := range []string{defKey(id), sipUsersKey, whereKey, ck(c).state(), ck(c).events()} {
		var all string
		switch e.rdb.Type(e.ctx, k).Val() {
		case "hash":
			all = fmt.Sprint(e.rdb.HGetAll(e.ctx, k).Val())
		case "stream":
			all = fmt.Sprint(e.rdb.XRange(e.ctx, k, "-", "+").Val())
		default:
			t.Fatalf("%s: type %s", k, e.rdb.Type(e.ctx, k).Val())
		}
		if !strings.Contains(all, id) {
			t.Fatalf("%s does not mention the agent: the check reads nothing", k)
		}
		if strings.Contains(all, pass) {
			t.Errorf("%s holds the password", k)
		}
	}
	if e.rdb.HExists(e.ctx, defKey(id), "password").Val() {
		t.Error("a password field is stored")
	}
}
