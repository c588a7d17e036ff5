// Package registrar is Marcador's SIP registrar: agents' softphones
// REGISTER with digest authentication (RFC 3261 §10.3 and §22, RFC 7616
// with SHA-256 and MD5 as RFC 8760 brings them to SIP), and their bindings
// live in Redis, so any node finds any agent's phone (Lookup).
//
// The registrar never sees a password: a Credentials store (the agent
// pool) gives it H(user:realm:password) per algorithm. Nonces are
// stateless HMACs any node checks; the highest nonce count used with each
// is kept in Redis until the nonce expires, so a captured request cannot
// be replayed. Failed attempts are counted per source address and per SIP
// user across nodes and lock either out for a while (Lockout).
//
// The endpoint routes REGISTER to Handle. Nothing here is kept in memory
// that another node would need.
package registrar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// Credentials is the store of agents' SIP credentials (the agent pool).
type Credentials interface {
	// HA1 returns HA1(alg, user, realm, password) (see the function HA1)
	// for the agent whose SIP user this is, and the agent's id. It
	// returns an error wrapping ErrUnknownUser when no agent has the
	// user, ErrNoHA1 when the agent has none for alg.
	HA1(ctx context.Context, user, realm string, alg Algorithm) (ha1, agentID string, err error)
}

// AlgorithmChooser may be implemented by a Credentials store that knows
// which algorithms to offer an agent's phone, in order of preference.
// Debian's baresip 1.0 (libre 1.1), for one, fails on a challenge that
// names any algorithm but MD5, even after an MD5 one; such an agent gets
// []Algorithm{MD5}. An unknown user, an error or an empty list gets
// Options.Algorithms (an unknown user is never told apart).
type AlgorithmChooser interface {
	Algorithms(ctx context.Context, user, realm string) ([]Algorithm, error)
}

// Errors a Credentials store returns.
var (
	ErrUnknownUser = errors.New("no agent has this SIP user")
	ErrNoHA1       = errors.New("no HA1 stored for this algorithm")
)

// Options configure a registrar. Zero values are the documented defaults.
type Options struct {
	Redis       redis.UniversalClient
	Credentials Credentials
	// Realm of the challenges; default "marcador". HA1 values depend on
	// it: set it once, before the agents' passwords.
	Realm string
	// Node is this node's id, recorded on the bindings it takes.
	Node string
	// Algorithms offered, in order (RFC 8760 §2.4: most preferred
	// first); default SHA-256 then MD5.
	Algorithms []Algorithm
	// Secret keys the nonces' MAC; every node must share it. Default: one
	// kept in Redis (marcador:registrar:nonce_secret), made on first use;
	// Run keeps every node on the one in Redis.
	Secret []byte
	// NonceTTL is how long a nonce is good for; default 5m. A phone that
	// uses an older one is challenged again with stale=true.
	NonceTTL time.Duration
	// MinExpires, MaxExpires and DefaultExpires bound a binding's life:
	// shorter requests get 423 Interval Too Brief, longer ones are cut to
	// MaxExpires, and DefaultExpires serves a REGISTER that asks none.
	// Defaults 60s, 1h, 10m.
	MinExpires, MaxExpires, DefaultExpires time.Duration
	// MaxContacts per agent; default 1: an agent's new phone replaces the
	// old one (the binding due to lapse first goes).
	MaxContacts int
	// Lockout of sources and users after failed attempts.
	Lockout Lockout
	// SweepEvery is how often Run removes lapsed bindings and checks the
	// nonce secret; default 5s.
	SweepEvery time.Duration
	// Timeout bounds the work for one REGISTER (Redis, Credentials);
	// default 5s. When it runs out the phone gets 503 with Retry-After.
	Timeout time.Duration
	Now     func() time.Time
	Logger  *slog.Logger
}

// Defaults.
const (
	DefaultRealm          = "marcador"
	DefaultNonceTTL       = 5 * time.Minute
	DefaultMinExpires     = time.Minute
	DefaultMaxExpires     = time.Hour
	DefaultDefaultExpires = 10 * time.Minute
	DefaultTimeout        = 5 * time.Second
)

// Registrar answers REGISTER requests.
type Registrar struct {
	opt    Options
	rdb    redis.UniversalClient
	nonces *nonces
	log    *slog.Logger
	// Backend failures and replays are logged sparsely: a flood of
	// REGISTERs while Redis is down must not flood the log.
	backendLog, replayLog *sparseLog
}

// New checks the options and, without a configured Secret, reads or makes
// the shared one in Redis.
func New(ctx context.Context, opt Options) (*Registrar, error) {
	if opt.Redis == nil {
		return nil, errors.New("registrar: no Redis client")
	}
	if opt.Credentials == nil {
		return nil, errors.New("registrar: no credentials store")
	}
	if opt.Realm == "" {
		opt.Realm = DefaultRealm
	}
	if strings.ContainsAny(opt.Realm, "\"\\\r\n") {
		return nil, fmt.Errorf("registrar: realm %q: no quotes, backslashes or line breaks", opt.Realm)
	}
	if opt.Node == "" {
		opt.Node = "node"
	}
	if len(opt.Algorithms) == 0 {
		opt.Algorithms = []Algorithm{SHA256, MD5}
	}
	for _, a := range opt.Algorithms {
		if _, err := ParseAlgorithm(string(a)); err != nil || a == "" {
			return nil, fmt.Errorf("registrar: algorithms: %q: want MD5 or SHA-256", a)
		}
	}
	if opt.NonceTTL <= 0 {
		opt.NonceTTL = DefaultNonceTTL
	}
	if opt.MinExpires <= 0 {
		opt.MinExpires = DefaultMinExpires
	}
	if opt.MaxExpires <= 0 {
		opt.MaxExpires = DefaultMaxExpires
	}
	if opt.DefaultExpires <= 0 {
		opt.DefaultExpires = DefaultDefaultExpires
	}
	if opt.MaxExpires < opt.MinExpires {
		return nil, fmt.Errorf("registrar: max expires %s below min expires %s", opt.MaxExpires, opt.MinExpires)
	}
	opt.DefaultExpires = min(max(opt.DefaultExpires, opt.MinExpires), opt.MaxExpires)
	if opt.MaxContacts <= 0 {
		opt.MaxContacts = 1
	}
	opt.Lockout = opt.Lockout.withDefaults()
	if opt.SweepEvery <= 0 {
		opt.SweepEvery = DefaultSweepEvery
	}
	if opt.Timeout <= 0 {
		opt.Timeout = DefaultTimeout
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	secret := opt.Secret
	if len(secret) == 0 {
		opt.Secret = nil
		var err error
		if secret, _, err = sharedSecret(ctx, opt.Redis, nil); err != nil {
			return nil, fmt.Errorf("registrar: %w", err)
		}
	} else if len(secret) < 16 {
		return nil, errors.New("registrar: secret shorter than 16 bytes")
	}
	return &Registrar{opt: opt, rdb: opt.Redis, log: opt.Logger,
		nonces:     newNonces(secret, opt.Realm, opt.NonceTTL),
		backendLog: newSparseLog(), replayLog: newSparseLog()}, nil
}

// Realm is the realm of the challenges (what HA1 values are computed with).
func (r *Registrar) Realm() string { return r.opt.Realm }

// Handle answers one REGISTER on its server transaction: route REGISTER
// here (sipgo Server.OnRegister).
func (r *Registrar) Handle(req *sip.Request, tx sip.ServerTransaction) {
	ctx, cancel := context.WithTimeout(context.Background(), r.opt.Timeout)
	defer cancel()
	if err := tx.Respond(r.Respond(ctx, req)); err != nil {
		r.log.Debug("sip registrar: response not sent", "call_id", callID(req), "err", err)
	}
}

// Respond is the response to one REGISTER.
func (r *Registrar) Respond(ctx context.Context, req *sip.Request) *sip.Response {
	res, err := r.respond(ctx, req)
	if err != nil {
		// Redis or the credentials store failed: the phone tries again.
		r.backendLog.warn(r.log, "sip registrar: REGISTER failed (503)", "src", req.Source(), "call_id", callID(req), "err", err)
		res = sip.NewResponseFromRequest(req, 503, "Service Unavailable", nil)
		res.AppendHeader(sip.NewHeader("Retry-After", "5"))
	}
	return res
}

func callID(req *sip.Request) string {
	if h := req.CallID(); h != nil {
		return h.Value()
	}
	return ""
}

// findAuthorization picks the Authorization values for our realm (a phone
// may send one per realm or per algorithm it was offered).
func (r *Registrar) findAuthorization(req *sip.Request) (creds []*credentials, malformed error, present bool) {
	for _, h := range req.GetHeaders("Authorization") {
		present = true
		c, err := parseAuthorization(h.Value())
		if err != nil {
			if malformed == nil {
				malformed = err
			}
			continue
		}
		if c.Realm == r.opt.Realm {
			creds = append(creds, c)
		}
	}
	return creds, malformed, present
}

func (r *Registrar) respond(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	if res := refuseMalformed(req); res != nil {
		return res, nil
	}
	to := req.To()
	now := r.opt.Now()
	srcAP, _ := netip.ParseAddrPort(req.Source())
	src := srcAP.Addr().Unmap()
	creds, malformed, hasAuth := r.findAuthorization(req)
	user := to.Address.User
	if len(creds) > 0 {
		user = creds[0].Username
	}
	// One user per request: the lockout is checked and counted for it, so
	// no second header may try another user's password past it.
	for _, c := range creds[min(1, len(creds)):] {
		if c.Username != user {
			return sip.NewResponseFromRequest(req, 400, "Bad Request (credentials for two users)", nil), nil
		}
	}
	// A locked-out source or user gets 403 before anything is checked.
	if locked, err := r.lockedOut(ctx, src, user, now); err != nil {
		return nil, err
	} else if locked != "" {
		r.log.Debug("sip registrar: REGISTER refused (403): locked out", "by", locked, "src", src, "user", user)
		return sip.NewResponseFromRequest(req, 403, "Forbidden", nil), nil
	}
	if len(creds) == 0 {
		if malformed != nil {
			r.log.Debug("sip registrar: malformed Authorization", "src", src, "err", malformed)
			return sip.NewResponseFromRequest(req, 400, "Bad Request (malformed Authorization)", nil), nil
		}
		if hasAuth {
			r.log.Debug("sip registrar: Authorization for another realm", "src", src, "user", user)
		}
		return r.challenge(ctx, req, user, false), nil
	}

	ok, agentID, tried, err := r.verify(ctx, req, creds)
	if err != nil {
		return nil, err
	}
	if ok == nil {
		if !tried {
			// Only algorithms we did not offer or hold: ask again.
			return r.challenge(ctx, req, user, false), nil
		}
		locked, err := r.failed(ctx, src, user, now)
		if err != nil {
			return nil, err
		}
		r.log.Debug("sip registrar: wrong credentials", "src", src, "user", user, "user_agent", userAgent(req))
		if locked != "" {
			return sip.NewResponseFromRequest(req, 403, "Forbidden", nil), nil
		}
		return r.challenge(ctx, req, user, false), nil
	}

	// The response is right; is its nonce still good, and its count new?
	if fresh, err := r.freshNonce(ctx, ok, src, now); err != nil {
		return nil, err
	} else if !fresh {
		return r.challenge(ctx, req, ok.Username, true), nil
	}
	if err := r.succeeded(ctx, ok.Username); err != nil {
		return nil, err
	}
	// The address of record is the authenticated user's (RFC 3261 §10.3
	// step 3): no agent registers another's phone.
	if to.Address.User != ok.Username {
		r.log.Info("sip registrar: REGISTER refused (403): To names another user", "user", ok.Username, "to", to.Address.User, "src", src)
		return sip.NewResponseFromRequest(req, 403, "Forbidden (To is not the authenticated user)", nil), nil
	}
	return r.bind(ctx, req, ok.Username, agentID, srcAP, now)
}

// refuseMalformed answers a request the registrar does not take: another
// method (405) or a REGISTER missing a header it needs (400); nil otherwise.
func refuseMalformed(req *sip.Request) *sip.Response {
	if req.Method != sip.REGISTER {
		res := sip.NewResponseFromRequest(req, 405, "Method Not Allowed", nil)
		res.AppendHeader(sip.NewHeader("Allow", "REGISTER"))
		return res
	}
	if req.To() == nil || req.From() == nil || req.CallID() == nil || req.CSeq() == nil {
		return sip.NewResponseFromRequest(req, 400, "Bad Request (missing To, From, Call-ID or CSeq)", nil)
	}
	return nil
}

// verify finds the first credentials whose algorithm the agent has an HA1
// for and whose response matches; tried says some response was checked, so
// no match is a failure (not just algorithms we did not offer or hold).
func (r *Registrar) verify(ctx context.Context, req *sip.Request, creds []*credentials) (ok *credentials, agentID string, tried bool, err error) {
	for _, c := range creds {
		if !r.offers(c.alg) {
			continue
		}
		ha1, agent, err := r.opt.Credentials.HA1(ctx, c.Username, r.opt.Realm, c.alg)
		switch {
		case errors.Is(err, ErrUnknownUser):
			// Same work as for a known user: the answer and its time
			// tell nothing of which users exist.
			c.verify(req.Method.String(), HA1(c.alg, c.Username, r.opt.Realm, ""))
			tried = true
			continue
		case errors.Is(err, ErrNoHA1):
			r.backendLog.warn(r.log, "sip registrar: agent has no HA1 for the algorithm its phone answered with",
				"user", c.Username, "algorithm", c.alg)
			continue
		case err != nil:
			return nil, "", tried, fmt.Errorf("credentials of %s: %w", c.Username, err)
		}
		tried = true
		if c.verify(req.Method.String(), ha1) {
			return c, agent, true, nil
		}
	}
	return nil, "", tried, nil
}

// freshNonce says whether the verified credentials' nonce is still good and
// its count new (a reused count is a replay, or a phone that repeats counts).
func (r *Registrar) freshNonce(ctx context.Context, ok *credentials, src netip.Addr, now time.Time) (bool, error) {
	issued, err := r.nonces.check(ok.Nonce, now)
	if err != nil {
		r.log.Debug("sip registrar: stale nonce", "user", ok.Username, "reason", err)
		return false, nil
	}
	fresh, err := r.nonces.useCount(ctx, r.rdb, ok.Nonce, ok.Nc, issued, now)
	if err != nil {
		return false, err
	}
	if !fresh {
		r.replayLog.warn(r.log, "sip registrar: nonce count reused (a replay, or a phone that repeats counts): challenged again",
			"src", src, "user", ok.Username, "nc", ok.Nc)
	}
	return fresh, nil
}

func (r *Registrar) offers(a Algorithm) bool {
	for _, o := range r.opt.Algorithms {
		if o == a {
			return true
		}
	}
	return false
}

func userAgent(req *sip.Request) string {
	if h := req.GetHeader("User-Agent"); h != nil {
		return h.Value()
	}
	return ""
}

// sparseLog writes at most a burst of lines and then about one a second,
// counting the ones it leaves out (as the endpoint's inbound admission
// does).
type sparseLog struct {
	lim     *rate.Limiter
	dropped atomic.Int64
}

func newSparseLog() *sparseLog { return &sparseLog{lim: rate.NewLimiter(1, 5)} }

func (s *sparseLog) warn(log *slog.Logger, msg string, args ...any) {
	if !s.lim.Allow() {
		s.dropped.Add(1)
		return
	}
	if n := s.dropped.Swap(0); n > 0 {
		args = append(args, "not_logged_since_last", n)
	}
	log.Warn(msg, args...)
}
