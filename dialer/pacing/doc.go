// Package pacing decides, tick by tick, how many more lines a campaign dials.
//
// A Pacer sees the campaign as a Snapshot (agents with their state and time
// in it, calls in flight with their ring time so far, the room left on the
// trunk, the campaign's settings) and the outcomes of earlier calls as
// Events; it answers a Decision. It never reads the wall clock: time comes in
// with the snapshot and the events, so the live dialer and the simulator
// (dialer/pacing/sim) run the same code.
//
// Four pacers share the interface:
//   - Progressive: a fixed number of lines per ready agent (1 by default).
//   - Vicidial: a re-implementation of VICIdial's ADAPT_* dial-level rules,
//     the baseline the others are measured against.
//   - Predictive: a model-based pacer that predicts, second by second over the
//     next ring time, how many agents will be free and how many live answers
//     the calls in flight will bring, and dials while one more call is
//     unlikely to be abandoned; a feedback term holds the abandon rate under
//     the target over the compliance window.
//   - Agentless: IVR campaigns, a target number of concurrent sessions.
//
// A pacer is used by one goroutine (one tick loop per campaign); it is not
// safe for concurrent use.
package pacing
