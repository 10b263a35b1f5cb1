package actors

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/asynkron/protoactor-go/actor"
)

// recoveringMsg is the message protoactor logs, at Info, when a mailbox
// recovers a panic (actor/actor_context.go, EscalateFailure).
const recoveringMsg = "[ACTOR] Recovering"

// protoLog routes protoactor's logging into our slog handler. protoactor
// logs at Info what is chatter to an operator (system started, dead
// letters, throttling), so Info is demoted to Debug, except the one Info
// line that matters: a recovered panic, promoted to Warn and rewritten
// with the actor's kind, id and the panic's reason. Warn and Error pass
// through. *actor.PID values are rendered as their path.
//
// Enabled cannot see the message, so for Info it answers yes when either
// Debug or Warn is enabled and Handle decides per record.
type protoLog struct {
	next slog.Handler
}

var _ slog.Handler = protoLog{}

// newProtoLogger returns the logger protoactor's system uses.
func newProtoLogger(base *slog.Logger) *slog.Logger {
	return slog.New(protoLog{next: base.Handler()}).With("component", "actors")
}

func (h protoLog) Enabled(ctx context.Context, l slog.Level) bool {
	if isInfo(l) {
		return h.next.Enabled(ctx, slog.LevelDebug) || h.next.Enabled(ctx, slog.LevelWarn)
	}
	return h.next.Enabled(ctx, l)
}

func (h protoLog) Handle(ctx context.Context, r slog.Record) error {
	if isInfo(r.Level) && r.Message == recoveringMsg {
		return h.recovered(ctx, r)
	}
	level := r.Level
	if isInfo(level) {
		level = slog.LevelDebug
	}
	if !h.next.Enabled(ctx, level) {
		return nil
	}
	out := slog.NewRecord(r.Time, level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(plainAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

// recovered rewrites protoactor's "[ACTOR] Recovering" (attrs self, reason)
// as a Warn naming the actor.
func (h protoLog) recovered(ctx context.Context, r slog.Record) error {
	if !h.next.Enabled(ctx, slog.LevelWarn) {
		return nil
	}
	out := slog.NewRecord(r.Time, slog.LevelWarn, "actor panicked; its supervisor restarts or stops it", r.PC)
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "self":
			if pid, ok := a.Value.Any().(*actor.PID); ok {
				out.AddAttrs(slog.String("actor", pidString(pid)))
				if kind, id, ok := splitPath(pid.Id); ok {
					out.AddAttrs(slog.String("kind", kind), slog.String("id", id))
				}
				return true
			}
			out.AddAttrs(plainAttr(a))
		case "reason":
			out.AddAttrs(slog.String("reason", fmt.Sprint(a.Value.Any())))
		default:
			out.AddAttrs(plainAttr(a))
		}
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h protoLog) WithAttrs(as []slog.Attr) slog.Handler {
	plain := make([]slog.Attr, len(as))
	for i, a := range as {
		plain[i] = plainAttr(a)
	}
	return protoLog{next: h.next.WithAttrs(plain)}
}

func (h protoLog) WithGroup(name string) slog.Handler {
	return protoLog{next: h.next.WithGroup(name)}
}

func isInfo(l slog.Level) bool { return l >= slog.LevelInfo && l < slog.LevelWarn }

// plainAttr renders a PID as its path: a PID is a protobuf message whose
// String is prototext, unreadable in a log line.
func plainAttr(a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindAny {
		if pid, ok := a.Value.Any().(*actor.PID); ok {
			return slog.String(a.Key, pidString(pid))
		}
	}
	return a
}

// localAddress is the address protoactor gives local PIDs when no remote
// is started (actor/process_registry.go).
const localAddress = "nonhost"

func pidString(pid *actor.PID) string {
	if pid == nil {
		return "<nil>"
	}
	if pid.Address == "" || pid.Address == localAddress {
		return pid.Id
	}
	return pid.Address + "/" + pid.Id
}

// splitPath splits the path of an actor spawned by Spawn,
// pathRoot + kind + "/" + id, into its kind and id.
func splitPath(path string) (kind, id string, ok bool) {
	rest, ok := strings.CutPrefix(path, pathRoot)
	if !ok {
		return "", "", false
	}
	kind, id, ok = strings.Cut(rest, "/")
	if !ok || kind == "" || id == "" {
		return "", "", false
	}
	return kind, id, true
}
