package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/marcador/marcador/dialer/registrar"
)

// Definition is an agent as the API creates or updates it. Password is
// write-only: it is turned into digest HA1 values at once and never stored,
// logged, returned or encoded (MarshalJSON, String and LogValue leave it out).
type Definition struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	SIPUser string `json:"sip_user"`
	// Password is required when the agent is created, when its SIP user
	// changes and when the pool's realm is not the one its credentials were
	// made for; otherwise empty keeps the credentials.
	Password  string   `json:"password"`
	Campaigns []string `json:"campaigns"`
	Language  string   `json:"language"`
	// Algorithms are the digest algorithms the agent's phone is challenged
	// with, in order of preference: MD5 and/or SHA-256. Empty: the
	// registrar's. A phone that gives up on a SHA-256 challenge (Debian's
	// baresip 1.0, older firmware) needs ["MD5"].
	Algorithms []string `json:"algorithms"`
}

type definitionNoPassword struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	SIPUser    string   `json:"sip_user"`
	Campaigns  []string `json:"campaigns"`
	Language   string   `json:"language"`
	Algorithms []string `json:"algorithms"`
}

func (d Definition) public() definitionNoPassword {
	return definitionNoPassword{d.ID, d.Name, d.SIPUser, d.Campaigns, d.Language, d.Algorithms}
}

// MarshalJSON leaves the password out.
func (d Definition) MarshalJSON() ([]byte, error) { return json.Marshal(d.public()) }

// String leaves the password out (fmt %v and %+v).
func (d Definition) String() string { return fmt.Sprintf("%+v", d.public()) }

// GoString leaves the password out (fmt %#v).
func (d Definition) GoString() string { return fmt.Sprintf("%#v", d.public()) }

// LogValue leaves the password out (slog).
func (d Definition) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", d.ID), slog.String("sip_user", d.SIPUser))
}

// Agent is a stored definition as it is read back: never any credential.
type Agent struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	SIPUser   string   `json:"sip_user"`
	Campaigns []string `json:"campaigns"`
	Language  string   `json:"language"`
	// Algorithms offered to its phone; empty: the registrar's.
	Algorithms []string  `json:"algorithms"`
	Created    time.Time `json:"created_at"`
	Updated    time.Time `json:"updated_at"`
}

// Credentials are what a SIP registrar needs to check a digest response for
// the agent's SIP user: HA1 = H(user:realm:password) for MD5 and SHA-256
// (RFC 2617, RFC 7616/8760). An HA1 lets anyone answer challenges for that
// realm, so treat it as the password: never log it or return it to clients
// (String and LogValue leave the HA1 values out).
type Credentials struct {
	Agent     string
	SIPUser   string
	Realm     string
	HA1MD5    string `json:"-"`
	HA1SHA256 string `json:"-"`
}

func (c Credentials) String() string {
	return fmt.Sprintf("{Agent:%s SIPUser:%s Realm:%s HA1:redacted}", c.Agent, c.SIPUser, c.Realm)
}

func (c Credentials) GoString() string { return "agent.Credentials" + c.String() }

func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("agent", c.Agent), slog.String("sip_user", c.SIPUser), slog.String("realm", c.Realm))
}

// Digest algorithms as SIP names them.
const (
	MD5    = string(registrar.MD5)
	SHA256 = string(registrar.SHA256)
)

// HA1 is H(user:realm:password) in lower-case hex for algorithm MD5 or
// SHA-256 (RFC 7616 section 3.4.2), as registrar.HA1 computes it.
func HA1(algorithm, user, realm, password string) (string, error) {
	switch a := strings.ToUpper(algorithm); a {
	case MD5, SHA256:
		return registrar.HA1(registrar.Algorithm(a), user, realm, password), nil
	}
	return "", fmt.Errorf("digest algorithm %q: want MD5 or SHA-256", algorithm)
}

// Definition limits.
const (
	MinPassword  = 8
	MaxPassword  = 128
	maxName      = 200
	maxCampaigns = 256
)

// sipUserRe: the user part of the agent's SIP URI and digest username. ':'
// and '"' never (they would change what HA1 hashes or break the header).
var sipUserRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$`)

// Languages are the languages an agent may be given.
func Languages() []string { return []string{"es", "en"} }

// normalize fills defaults and validates; the error is a *FieldError.
func (d *Definition) normalize() error {
	if err := checkRef("id", d.ID); err != nil {
		return err
	}
	bad := func(field, format string, args ...any) error {
		return &FieldError{Agent: d.ID, Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	d.Name = strings.TrimSpace(d.Name)
	if d.Name == "" {
		d.Name = d.ID
	}
	if len(d.Name) > maxName || !utf8.ValidString(d.Name) || strings.IndexFunc(d.Name, unprintable) >= 0 {
		return bad("name", "want at most %d bytes of UTF-8 text without control or bidirectional characters", maxName)
	}
	if !sipUserRe.MatchString(d.SIPUser) {
		return bad("sip_user", "%.70q: 1-64 of A-Z a-z 0-9 _ . + - starting with a letter or digit", d.SIPUser)
	}
	if d.Password != "" {
		// The reason never quotes the password.
		n := utf8.RuneCountInString(d.Password)
		switch {
		case !utf8.ValidString(d.Password) || strings.IndexFunc(d.Password, unicode.IsControl) >= 0:
			return bad("password", "must be UTF-8 text without control characters")
		case n < MinPassword || len(d.Password) > MaxPassword:
			return bad("password", "want %d to %d characters", MinPassword, MaxPassword)
		}
	}
	if len(d.Campaigns) > maxCampaigns {
		return bad("campaigns", "%d campaigns: at most %d", len(d.Campaigns), maxCampaigns)
	}
	seen := make(map[string]bool, len(d.Campaigns))
	out := make([]string, 0, len(d.Campaigns))
	for i, c := range d.Campaigns {
		if err := checkRef("", c); err != nil {
			return bad("campaigns["+strconv.Itoa(i)+"]", "%s", err.(*FieldError).Reason)
		}
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	d.Campaigns = out
	algs := make([]string, 0, len(d.Algorithms))
	for i, a := range d.Algorithms {
		v := strings.ToUpper(strings.TrimSpace(a))
		if v != MD5 && v != SHA256 {
			return bad("algorithms["+strconv.Itoa(i)+"]", "%.20q: want MD5 or SHA-256", a)
		}
		if !slices.Contains(algs, v) {
			algs = append(algs, v)
		}
	}
	d.Algorithms = algs
	d.Language = strings.ToLower(strings.TrimSpace(d.Language))
	if d.Language == "" {
		d.Language = "es"
	}
	if !slices.Contains(Languages(), d.Language) {
		return bad("language", "%.20q: want %s", d.Language, strings.Join(Languages(), " or "))
	}
	return nil
}

// unprintable: control characters and Unicode bidirectional controls (as
// the importer refuses them in names).
func unprintable(r rune) bool {
	return unicode.IsControl(r) || (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) ||
		r == 0x200E || r == 0x200F || r == 0x061C
}

// putScript creates or updates a definition and its SIP user index entry in
// one step, so two agents never hold one SIP user.
//
// KEYS: def sip_users ids. ARGV: id sip_user name campaigns_json language
// now_ms has_password realm ha1_md5 ha1_sha256 algorithms_json.
var putScript = redis.NewScript(`
local id, sip = ARGV[1], ARGV[2]
local owner = redis.call('HGET', KEYS[2], sip)
if owner and owner ~= id then return {'taken', owner} end
local old = redis.call('HGET', KEYS[1], 'sip_user')
if ARGV[7] == '0' then
  if not old then return {'password', 'required to create an agent'} end
  if old ~= sip then return {'password', 'required when sip_user changes (the digest hashes it)'} end
  if redis.call('HGET', KEYS[1], 'realm') ~= ARGV[8] then
    return {'password', 'required: the stored credentials are for another realm'}
  end
end
if old and old ~= sip and redis.call('HGET', KEYS[2], old) == id then redis.call('HDEL', KEYS[2], old) end
redis.call('HSET', KEYS[2], sip, id)
local created = redis.call('HSETNX', KEYS[1], 'created_at', ARGV[6])
redis.call('HSET', KEYS[1], 'id', id, 'name', ARGV[3], 'sip_user', sip, 'campaigns', ARGV[4],
  'language', ARGV[5], 'updated_at', ARGV[6], 'algorithms', ARGV[11])
if ARGV[7] == '1' then
  redis.call('HSET', KEYS[1], 'realm', ARGV[8], 'ha1_md5', ARGV[9], 'ha1_sha256', ARGV[10])
end
redis.call('SADD', KEYS[3], id)
return {'ok', tostring(created)}
`)

// Put creates or updates an agent definition (upsert by id). It reports
// whether the agent is new. A logged-in agent keeps working its campaign
// even when the update removes it; the next login uses the new list.
func (p *Pool) Put(ctx context.Context, d Definition) (Agent, bool, error) {
	if err := d.normalize(); err != nil {
		return Agent{}, false, err
	}
	camps, _ := json.Marshal(d.Campaigns)
	algs, _ := json.Marshal(d.Algorithms)
	args := []any{d.ID, d.SIPUser, d.Name, string(camps), d.Language, ms(p.now()), "0", p.realm, "", "", string(algs)}
	if d.Password != "" {
		m, _ := HA1(MD5, d.SIPUser, p.realm, d.Password)
		s, _ := HA1(SHA256, d.SIPUser, p.realm, d.Password)
		args[6], args[8], args[9] = "1", m, s
	}
	res, err := putScript.Run(ctx, p.rdb, []string{defKey(d.ID), sipUsersKey, idsKey}, args...).StringSlice()
	if err != nil {
		return Agent{}, false, fmt.Errorf("agent %s: save: %w", d.ID, err)
	}
	switch res[0] {
	case "taken":
		return Agent{}, false, &FieldError{Agent: d.ID, Field: "sip_user", Reason: fmt.Sprintf("%q is agent %s's", d.SIPUser, res[1])}
	case "password":
		return Agent{}, false, &FieldError{Agent: d.ID, Field: "password", Reason: res[1]}
	}
	a, err := p.Get(ctx, d.ID)
	return a, res[1] == "1", err
}

// defFields are the fields Get reads: never the credentials.
var defFields = []string{"id", "name", "sip_user", "campaigns", "language", "created_at", "updated_at", "algorithms"}

func parseDef(id string, v []any) (Agent, error) {
	if v[0] == nil {
		return Agent{}, fmt.Errorf("agent %s: %w", id, ErrNotFound)
	}
	str := func(i int) string { s, _ := v[i].(string); return s }
	a := Agent{ID: str(0), Name: str(1), SIPUser: str(2), Language: str(4)}
	if err := json.Unmarshal([]byte(str(3)), &a.Campaigns); err != nil {
		return Agent{}, fmt.Errorf("agent %s: decode campaigns: %w", id, err)
	}
	a.Algorithms = []string{}
	if v := str(7); v != "" {
		if err := json.Unmarshal([]byte(v), &a.Algorithms); err != nil {
			return Agent{}, fmt.Errorf("agent %s: decode algorithms: %w", id, err)
		}
	}
	c, _ := strconv.ParseInt(str(5), 10, 64)
	u, _ := strconv.ParseInt(str(6), 10, 64)
	a.Created, a.Updated = fromMS(c), fromMS(u)
	return a, nil
}

// Get reads an agent definition.
func (p *Pool) Get(ctx context.Context, id string) (Agent, error) {
	if err := checkRef("id", id); err != nil {
		return Agent{}, err
	}
	v, err := p.rdb.HMGet(ctx, defKey(id), defFields...).Result()
	if err != nil {
		return Agent{}, fmt.Errorf("agent %s: read: %w", id, err)
	}
	return parseDef(id, v)
}

// List reads every agent definition, by id.
func (p *Pool) List(ctx context.Context) ([]Agent, error) {
	ids, err := p.rdb.SMembers(ctx, idsKey).Result()
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	sort.Strings(ids)
	pipe := p.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HMGet(ctx, defKey(id), defFields...)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("list agents: read: %w", err)
	}
	out := make([]Agent, 0, len(ids))
	for i, id := range ids {
		a, err := parseDef(id, cmds[i].Val())
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// BySIPUser reads the agent a SIP user belongs to.
func (p *Pool) BySIPUser(ctx context.Context, user string) (Agent, error) {
	id, err := p.sipOwner(ctx, user)
	if err != nil {
		return Agent{}, err
	}
	return p.Get(ctx, id)
}

func (p *Pool) sipOwner(ctx context.Context, user string) (string, error) {
	if !sipUserRe.MatchString(user) {
		return "", fmt.Errorf("sip user %.70q: %w", user, ErrNotFound)
	}
	id, err := p.rdb.HGet(ctx, sipUsersKey, user).Result()
	if errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("sip user %s: %w", user, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("sip user %s: read: %w", user, err)
	}
	return id, nil
}

// Credentials reads the digest credentials of a SIP user, for the
// registrar. ErrNotFound when no agent has that SIP user.
func (p *Pool) Credentials(ctx context.Context, sipUser string) (Credentials, error) {
	id, err := p.sipOwner(ctx, sipUser)
	if err != nil {
		return Credentials{}, err
	}
	v, err := p.rdb.HMGet(ctx, defKey(id), "sip_user", "realm", "ha1_md5", "ha1_sha256").Result()
	if err != nil {
		return Credentials{}, fmt.Errorf("sip user %s: read credentials: %w", sipUser, err)
	}
	str := func(i int) string { s, _ := v[i].(string); return s }
	if str(0) != sipUser {
		// The index and the definition disagree (a half-written change):
		// refuse rather than check a password against another user's hash.
		return Credentials{}, fmt.Errorf("sip user %s: index names agent %s, whose sip user is %q: %w", sipUser, id, str(0), ErrNotFound)
	}
	return Credentials{Agent: id, SIPUser: sipUser, Realm: str(1), HA1MD5: str(2), HA1SHA256: str(3)}, nil
}
