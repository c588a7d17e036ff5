package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Agent calls across nodes. The node that placed a call holds its debtor
// leg and the agent's nailed-up leg: only it can bridge, hang up, transfer
// or finish the call. Any node must still find the call and act on it (an
// agent's desktop talks to whichever node its API request reaches), so:
//
//   - a call's live state is in Redis, marcador:call:<id> (JSON, kept while
//     the call lasts and an hour after): its node, agent, campaign, account
//     and state (Calls.Put, Calls.Get);
//   - an action (hang up, disposition, transfer, text) goes to the holding
//     node over one Redis Pub/Sub channel per node, marcador:calls:<node>,
//     and its answer comes back on the asking node's channel (Calls.Do). A
//     node holds one subscription for every call it has and every answer it
//     waits for, never a connection per call; the holding node answers
//     locally without Redis.
//
// Pub/Sub delivers to the nodes listening now: an action sent to a node that
// is gone fails at once (nobody received it), one whose answer does not
// come within the timeout fails with ErrCallTimeout, and the caller may send
// it again (the holder refuses a second disposition of a call).

// Call states as Calls.Get shows them.
const (
	CallRinging = "ringing" // a preview agent's call, placed, not answered yet
	CallWaiting = "waiting" // answered, waiting for an agent
	CallTalking = "talking" // bridged to an agent
	CallWrapUp  = "wrap_up" // the debtor's leg is over (or with the IVR); the agent is in wrap-up
	CallIVR     = "ivr"     // handed to an IVR script, the agent freed
	CallEnded   = "ended"   // settled: the attempt is recorded
)

// CallInfo is an agent call's live state.
type CallInfo struct {
	ID       string    `json:"id"` // the attempt id
	Campaign string    `json:"campaign"`
	Account  string    `json:"account"`
	Phone    string    `json:"phone,omitempty"`
	Node     string    `json:"node"`
	Agent    string    `json:"agent,omitempty"`
	State    string    `json:"state"`
	Since    time.Time `json:"since"` // in State since
	Answered time.Time `json:"answered_at,omitzero"`
	// Code is the agent's disposition, once sent.
	Code string `json:"code,omitempty"`
	// Recording is the file the call is recorded to, if it is.
	Recording string `json:"recording,omitempty"`
	// Disposition is the attempt's, once ended.
	Disposition string `json:"disposition,omitempty"`
	// Reason says why a call ended without its node settling it (node_lost:
	// the node holding it died; node_restarted).
	Reason string `json:"reason,omitempty"`
}

// ErrCallNotFound: no live or recently ended call has that id.
var ErrCallNotFound = errors.New("no such call")

// ErrCallTimeout: the node holding the call did not answer in time.
var ErrCallTimeout = errors.New("the node holding the call did not answer in time")

// CallError is an action's refusal, as the holding node gives it (it
// crosses nodes as JSON).
type CallError struct {
	// Kind: not_found (the call is not held there any more), conflict (not
	// in the call's state), invalid (Field and Reason say what), gone (the
	// holding node is not listening), failed (ours).
	Kind    string `json:"kind"`
	Field   string `json:"field,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message"`
}

func (e *CallError) Error() string { return e.Message }

// Call action error kinds.
const (
	CallNotFound = "not_found"
	CallConflict = "conflict"
	CallInvalid  = "invalid"
	CallGone     = "gone"
	CallFailed   = "failed"
)

// Command is an action on a call, as it crosses nodes.
type Command struct {
	ID      string          `json:"id"`       // the request's id
	ReplyTo string          `json:"reply_to"` // the asking node
	Call    string          `json:"call"`
	Op      string          `json:"op"` // hangup, disposition, transfer, sms
	Body    json.RawMessage `json:"body,omitempty"`
}

// reply is a Command's answer.
type reply struct {
	ID   string          `json:"id"`
	Err  *CallError      `json:"error,omitempty"`
	Body json.RawMessage `json:"body,omitempty"`
}

// message is what a node's channel carries: a command or a reply.
type message struct {
	Command *Command `json:"command,omitempty"`
	Reply   *reply   `json:"reply,omitempty"`
}

// CallHandler carries out a command on a call this node holds. Its answer
// is marshalled to JSON; an error other than a *CallError is a failure of
// ours.
type CallHandler func(ctx context.Context, cmd Command) (any, error)

// CallsOptions configure Calls.
type CallsOptions struct {
	Client redis.UniversalClient // required
	Node   string                // this node's id, required
	// Handle carries out the commands on this node's calls (the campaign
	// runner). Required.
	Handle CallHandler
	// Timeout bounds how long an action waits for the holding node;
	// default 10s.
	Timeout time.Duration
	// Keep is how long an ended call's state stays findable; default 1h.
	Keep   time.Duration
	Logger *slog.Logger
}

// Calls finds agent calls and acts on them from any node.
type Calls struct {
	opt CallsOptions
	rdb redis.UniversalClient
	log *slog.Logger

	mu      sync.Mutex
	pending map[string]chan reply
	ready   chan struct{} // closed once the subscription is up
	once    sync.Once
}

// NewCalls returns Calls; Run it to take commands and answers.
func NewCalls(opt CallsOptions) (*Calls, error) {
	if opt.Client == nil || opt.Handle == nil {
		return nil, errors.New("agent calls: client and handler are required")
	}
	if err := checkRef("node", opt.Node); err != nil {
		return nil, fmt.Errorf("agent calls: %w", err)
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Second
	}
	if opt.Keep <= 0 {
		opt.Keep = time.Hour
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return &Calls{opt: opt, rdb: opt.Client, log: opt.Logger, pending: map[string]chan reply{}, ready: make(chan struct{})}, nil
}

// Node is the node these Calls act for.
func (c *Calls) Node() string { return c.opt.Node }

func callKey(id string) string       { return "marcador:call:" + id }
func heldKey(node string) string     { return "marcador:calls:held:" + node }
func nodeChannel(node string) string { return "marcador:calls:" + node }

// liveTTL bounds a live call's state in Redis should its node die without
// ending it.
const liveTTL = 6 * time.Hour

// Put records a call's state (its holder: this node); an ended call is
// kept for Keep.
func (c *Calls) Put(ctx context.Context, info CallInfo) error {
	if err := checkCall(info.ID); err != nil {
		return err
	}
	info.Node = c.opt.Node
	b, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("call %s: %w", info.ID, err)
	}
	ttl := liveTTL
	if info.State == CallEnded {
		ttl = c.opt.Keep
	}
	// The node's set of live calls is what EndNode ends should the node
	// die with them (another slot: a pipeline, not a transaction).
	_, err = c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, callKey(info.ID), b, ttl)
		if info.State == CallEnded {
			p.SRem(ctx, heldKey(c.opt.Node), info.ID)
		} else {
			p.SAdd(ctx, heldKey(c.opt.Node), info.ID)
			p.Expire(ctx, heldKey(c.opt.Node), liveTTL)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("call %s: save state %s: %w", info.ID, info.State, err)
	}
	return nil
}

// EndNode ends every call node left live: its state becomes ended with
// reason (node_lost when another node found node's agents' leases
// expired, node_restarted when node itself starts again), so no call of a
// dead node stays talking or waiting. It returns the calls it ended;
// running it twice ends nobody twice.
func (c *Calls) EndNode(ctx context.Context, node, reason string) ([]string, error) {
	if err := checkRef("node", node); err != nil {
		return nil, err
	}
	ids, err := c.rdb.SMembers(ctx, heldKey(node)).Result()
	if err != nil {
		return nil, fmt.Errorf("node %s: read its calls: %w", node, err)
	}
	var ended []string
	for _, id := range ids {
		done, err := c.endLost(ctx, id, node, reason)
		if err == nil {
			err = c.rdb.SRem(ctx, heldKey(node), id).Err()
		}
		if err != nil {
			return ended, fmt.Errorf("node %s: end call %s: %w", node, id, err)
		}
		if done {
			ended = append(ended, id)
		}
	}
	if len(ended) > 0 {
		c.log.Warn("agent calls: calls of a node that is gone ended", "node", node, "reason", reason, "calls", len(ended))
	}
	return ended, nil
}

// endLost ends call id if it is still node's and not ended (a transaction
// on its key: the node may be alive after all and end it meanwhile).
func (c *Calls) endLost(ctx context.Context, id, node, reason string) (bool, error) {
	key := callKey(id)
	done := false
	err := c.rdb.Watch(ctx, func(tx *redis.Tx) error {
		b, err := tx.Get(ctx, key).Bytes()
		if errors.Is(err, redis.Nil) {
			return nil
		}
		if err != nil {
			return err
		}
		var info CallInfo
		if err := json.Unmarshal(b, &info); err != nil {
			return err
		}
		if info.Node != node || info.State == CallEnded {
			return nil
		}
		info.State, info.Reason, info.Since = CallEnded, reason, time.Now()
		nb, _ := json.Marshal(info)
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, key, nb, c.opt.Keep)
			return nil
		})
		done = err == nil
		return err
	}, key)
	return done, err
}

// Get reads a call's state from any node (ErrCallNotFound).
func (c *Calls) Get(ctx context.Context, id string) (CallInfo, error) {
	if err := checkCall(id); err != nil {
		return CallInfo{}, err
	}
	b, err := c.rdb.Get(ctx, callKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return CallInfo{}, fmt.Errorf("call %s: %w", id, ErrCallNotFound)
	}
	if err != nil {
		return CallInfo{}, fmt.Errorf("call %s: read state: %w", id, err)
	}
	var info CallInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return CallInfo{}, fmt.Errorf("call %s: decode state: %w", id, err)
	}
	return info, nil
}

// Do sends op with body (marshalled to JSON) to the node holding call id
// and returns its answer. The error is ErrCallNotFound, ErrCallTimeout, a
// *CallError from the holder, or a failure to reach Redis.
func (c *Calls) Do(ctx context.Context, id, op string, body any) (json.RawMessage, error) {
	info, err := c.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	var raw json.RawMessage
	if body != nil {
		if raw, err = json.Marshal(body); err != nil {
			return nil, fmt.Errorf("call %s: %s: %w", id, op, err)
		}
	}
	cmd := Command{ID: newRequestID(), ReplyTo: c.opt.Node, Call: id, Op: op, Body: raw}
	if info.Node == c.opt.Node {
		return c.handle(ctx, cmd).result()
	}
	return c.send(ctx, info.Node, cmd)
}

// DoOn sends op with body to node for subject, something the node holds
// that is not a call yet (a preview agent's dial goes to the node holding
// the agent's leg, Command.Call naming the agent), and returns its answer
// as Do does.
func (c *Calls) DoOn(ctx context.Context, node, subject, op string, body any) (json.RawMessage, error) {
	if err := checkRef("node", node); err != nil {
		return nil, err
	}
	var raw json.RawMessage
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", subject, op, err)
		}
	}
	cmd := Command{ID: newRequestID(), ReplyTo: c.opt.Node, Call: subject, Op: op, Body: raw}
	if node == c.opt.Node {
		return c.handle(ctx, cmd).result()
	}
	return c.send(ctx, node, cmd)
}

func (r reply) result() (json.RawMessage, error) {
	if r.Err != nil {
		return nil, r.Err
	}
	return r.Body, nil
}

func newRequestID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// send publishes cmd to node and waits for its reply.
func (c *Calls) send(ctx context.Context, node string, cmd Command) (json.RawMessage, error) {
	select {
	case <-c.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(c.opt.Timeout):
		return nil, fmt.Errorf("call %s: %s: this node's call channel is not up: %w", cmd.Call, cmd.Op, ErrCallTimeout)
	}
	ch := make(chan reply, 1)
	c.mu.Lock()
	c.pending[cmd.ID] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, cmd.ID)
		c.mu.Unlock()
	}()
	b, _ := json.Marshal(message{Command: &cmd})
	n, err := c.rdb.Publish(ctx, nodeChannel(node), b).Result()
	if err != nil {
		return nil, fmt.Errorf("call %s: %s: send to node %s: %w", cmd.Call, cmd.Op, node, err)
	}
	if n == 0 {
		return nil, &CallError{Kind: CallGone, Message: fmt.Sprintf("call %s: node %s, which holds it, is not listening", cmd.Call, node)}
	}
	t := time.NewTimer(c.opt.Timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.result()
	case <-t.C:
		return nil, fmt.Errorf("call %s: %s: node %s: %w", cmd.Call, cmd.Op, node, ErrCallTimeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// handle runs cmd here.
func (c *Calls) handle(ctx context.Context, cmd Command) reply {
	v, err := c.opt.Handle(ctx, cmd)
	r := reply{ID: cmd.ID}
	if err != nil {
		var ce *CallError
		if !errors.As(err, &ce) {
			c.log.Error("agent calls: action failed", "call", cmd.Call, "op", cmd.Op, "err", err)
			ce = &CallError{Kind: CallFailed, Message: fmt.Sprintf("call %s: %s failed on node %s", cmd.Call, cmd.Op, c.opt.Node)}
		}
		r.Err = ce
		return r
	}
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			r.Err = &CallError{Kind: CallFailed, Message: fmt.Sprintf("call %s: %s: answer: %v", cmd.Call, cmd.Op, err)}
			return r
		}
		r.Body = b
	}
	return r
}

// Ready is closed once Run's subscription is up: from then on the node
// takes commands for its calls.
func (c *Calls) Ready() <-chan struct{} { return c.ready }

// Run takes commands for this node's calls and answers to its own, on
// the node's channel, until ctx ends; a lost subscription is taken again.
func (c *Calls) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for ctx.Err() == nil {
		ps := c.rdb.Subscribe(ctx, nodeChannel(c.opt.Node))
		if _, err := ps.Receive(ctx); err != nil {
			ps.Close()
			if ctx.Err() == nil {
				c.log.Warn("agent calls: subscription failed; retrying", "node", c.opt.Node, "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		c.once.Do(func() { close(c.ready) })
		msgs := ps.Channel(redis.WithChannelSize(256))
		for done := false; !done; {
			select {
			case <-ctx.Done():
				done = true
			case m, ok := <-msgs:
				if !ok {
					done = true
					break
				}
				c.dispatch(ctx, &wg, m.Payload)
			}
		}
		ps.Close()
	}
}

// dispatch handles one message of the node's channel: a reply goes to its
// waiting request, a command runs on its own goroutine and its answer is
// published to the asking node.
func (c *Calls) dispatch(ctx context.Context, wg *sync.WaitGroup, payload string) {
	var m message
	if err := json.Unmarshal([]byte(payload), &m); err != nil {
		c.log.Warn("agent calls: unreadable message dropped", "node", c.opt.Node, "err", err)
		return
	}
	if r := m.Reply; r != nil {
		c.mu.Lock()
		ch := c.pending[r.ID]
		c.mu.Unlock()
		if ch != nil {
			select {
			case ch <- *r:
			default:
			}
		}
		return
	}
	cmd := m.Command
	if cmd == nil || checkCall(cmd.Call) != nil || checkRef("node", cmd.ReplyTo) != nil {
		c.log.Warn("agent calls: malformed command dropped", "node", c.opt.Node)
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		hctx, cancel := context.WithTimeout(ctx, c.opt.Timeout)
		defer cancel()
		r := c.handle(hctx, *cmd)
		b, _ := json.Marshal(message{Reply: &r})
		if err := c.rdb.Publish(context.WithoutCancel(hctx), nodeChannel(cmd.ReplyTo), b).Err(); err != nil {
			c.log.Warn("agent calls: answer not sent", "call", cmd.Call, "op", cmd.Op, "to", cmd.ReplyTo, "err", err)
		}
	}()
}
