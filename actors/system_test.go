package actors

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestSystem_Close(t *testing.T) {
	t.Run("stops every actor and leaves no goroutine", func(t *testing.T) {
		defer goleak.VerifyNone(t)
		s, err := New(Config{Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		root := s.ActorSystem().Root
		var st probeStats
		for _, kind := range []string{"visitor", "endpoint"} {
			for _, id := range []string{"1", "2", "3"} {
				pid := mustSpawn(t, s, kind, kind+id, st.producer(s, kind, kind+id))
				for range 100 {
					root.Send(pid, tick{})
				}
			}
		}
		// A dead letter too: protoactor's dead-letter logging starts a
		// throttle goroutine that Close must outwait.
		stale := mustSpawn(t, s, "visitor", "gone", st.producer(s, "visitor", "gone"))
		s.Stop("visitor", "gone")
		eventually(t, "gone", func() bool { _, ok := s.Actor("gone"); return !ok })
		root.Send(stale, tick{})

		if err := s.Close(context.Background()); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if got := s.Actors(""); len(got) != 0 {
			t.Fatalf("live after Close: %+v", got)
		}
		if _, err := s.Spawn("visitor", "4", st.producer(s, "visitor", "4")); !errors.Is(err, ErrClosed) {
			t.Fatalf("Spawn after Close: %v, want ErrClosed", err)
		}
		if err := s.Send("visitor", "1", st.producer(s, "visitor", "1"), tick{}); !errors.Is(err, ErrClosed) {
			t.Fatalf("Send after Close: %v, want ErrClosed", err)
		}
		if s.Stop("visitor", "1") {
			t.Fatal("Stop after Close = true")
		}
		if err := s.Close(context.Background()); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})

	t.Run("bounded by ctx, finished by a later Close", func(t *testing.T) {
		defer goleak.VerifyNone(t)
		s, err := New(Config{Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		var st probeStats
		pid := mustSpawn(t, s, "endpoint", "stuck", st.producer(s, "endpoint", "stuck"))
		h := &hold{entered: make(chan struct{}), release: make(chan struct{})}
		s.ActorSystem().Root.Send(pid, h)
		<-h.entered

		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := s.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close with a stuck actor: %v, want deadline exceeded", err)
		}
		close(h.release)
		if err := s.Close(context.Background()); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})

	t.Run("without any actor", func(t *testing.T) {
		defer goleak.VerifyNone(t)
		s, err := New(Config{Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

// protoactor's logging reaches our handler: Info chatter at Debug, a
// recovered panic at Warn; and protoactor writes nothing to stderr.
func TestSystem_logging(t *testing.T) {
	stderr, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = stderr // protoactor's default handler writes to os.Stderr
	defer func() { os.Stderr = saved }()

	buf := &syncBuffer{}
	s, err := New(Config{Log: slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	root := s.ActorSystem().Root
	var st probeStats
	pid := mustSpawn(t, s, "test", "loud", st.producer(s, "test", "loud"))
	root.Send(pid, boom("loud panic"))
	eventually(t, "restart", func() bool { return info(t, s, "loud").Restarts == 1 })
	s.Stop("test", "loud")
	eventually(t, "stopped", func() bool { _, ok := s.Actor("loud"); return !ok })
	root.Send(pid, tick{}) // a dead letter
	eventually(t, "dead letter logged", func() bool { return strings.Contains(buf.String(), "[DeadLetter]") })
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	os.Stderr = saved

	logs := buf.String()
	for _, want := range []string{"actor system started", "[DeadLetter]", "reason=\"loud panic\""} {
		line := lineWith(logs, want)
		if line == "" {
			t.Fatalf("no log line with %q:\n%s", want, logs)
		}
		wantLevel := "level=DEBUG"
		if strings.Contains(want, "panic") {
			wantLevel = "level=WARN"
		}
		if !strings.Contains(line, wantLevel) || !strings.Contains(line, "component=actors") {
			t.Errorf("line %q: want %s and component=actors", line, wantLevel)
		}
	}
	if strings.Contains(logs, "level=INFO") {
		t.Errorf("protoactor logged at Info:\n%s", logs)
	}
	if strings.Contains(logs, "&PID{") || strings.Contains(logs, "Address:") {
		t.Errorf("PID logged as a struct:\n%s", logs)
	}
	out, err := os.ReadFile(stderr.Name())
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 0 {
		t.Fatalf("protoactor wrote to stderr: %q", out)
	}

	t.Run("an Info handler keeps the panic and drops the chatter", func(t *testing.T) {
		buf := &syncBuffer{}
		s, err := New(Config{Log: slog.New(slog.NewTextHandler(buf, nil))})
		if err != nil {
			t.Fatal(err)
		}
		var st probeStats
		pid := mustSpawn(t, s, "test", "q", st.producer(s, "test", "q"))
		s.ActorSystem().Root.Send(pid, boom("quiet panic"))
		eventually(t, "restart", func() bool { return info(t, s, "q").Restarts == 1 })
		if err := s.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		logs := buf.String()
		if !strings.Contains(logs, "quiet panic") {
			t.Fatalf("panic not logged:\n%s", logs)
		}
		if strings.Contains(logs, "actor system started") {
			t.Fatalf("chatter logged at Info:\n%s", logs)
		}
	})
}
