// Package actors is the actor layer of Firehook's pipeline, built on
// protoactor-go. Every stored event goes to the actor of its (tenant,
// visitor) — and, once resolved, of its (tenant, person) — which sequences
// that person's events one at a time: match, suppression, dispatch
// decision, sequence number. Every endpoint has one supervised actor that
// owns its delivery queue. The actor packages below this one hold their
// parts (visitor: session sequencing; webhook: the wire side of delivery);
// this package holds what they run on.
//
// # Kinds, ids and partition keys
//
// An actor is named by a kind ("visitor", "person", "endpoint") and an id
// that is its partition key written out — tenant and visitor, tenant and
// person, endpoint id — never a counter or a pointer, so that a cluster
// can place the same actor on the same node by hashing the key. Ids are
// unique across kinds while live, so [System.Actor] needs only the id.
// Its protoactor path is "firehook/<kind>/<id>".
//
// # Supervision
//
// Each kind has one supervisor actor, spawned on first use; every actor of
// the kind is its child, spawned through [System.Spawn] (get-or-spawn:
// the live actor if there is one) or [System.Send] (get-or-spawn and
// deliver). A child that panics is restarted alone (one-for-one): a fresh
// instance from its producer, the same mailbox, so the messages queued
// behind the panicking one are handled after the restart. The message that
// panicked is not redelivered, and the actor's fields are reset: what must
// survive lives in badger and is re-read on *actor.Started. More than
// Config.MaxRestarts failures within Config.RestartWindow (default 10 in
// 10 s) stop the child instead; the next Spawn or Send starts a fresh one.
// A panic never ends the process.
//
// # Passivation
//
// Idle actors stop so that millions of visitors do not mean millions of
// live actors. The pattern: set a receive timeout on *actor.Started
// (ctx.SetReceiveTimeout) and call [System.Stop] on
// *actor.ReceiveTimeout. Stop lets the actor handle what is already in its
// mailbox, then stops it; a Spawn or Send for the id meanwhile waits for
// it to terminate and starts the next incarnation, so two incarnations of
// one id never run at once. Deliver with Send rather than to a PID kept
// from Spawn: a message sent to a kept PID after a Stop is lost, while
// Send orders itself against Stop.
//
// # Introspection
//
// [System.Actors] and [System.Actor] list the live actors with their
// mailbox depth, in-flight work, restarts, state and last activity (GET
// /v1/actors). protoactor does not expose mailbox lengths; each actor's
// mailbox carries a middleware that counts posts and handled messages, and
// restarts are counted from the *actor.SupervisorEvent on the system's
// event stream. Actors with work outside their mailbox implement
// [Reporter].
//
// # Logging and shutdown
//
// protoactor's logging goes to the slog logger of [Config]: its Info lines
// at Debug, a recovered panic at Warn with the actor and the reason;
// nothing is written to stderr. protoactor's Shutdown does not stop
// actors; [System.Close] stops them all (supervisors first poisoned, each
// waits for its children) and leaves no goroutine behind.
package actors
