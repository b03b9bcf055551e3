package readiness

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"dpcni.dev/k8s/internal/cniconf"
	"dpcni.dev/k8s/internal/testagent"
)

const conflist = `{"cniVersion":"1.0.0","name":"dpcni","plugins":[{"type":"dpcni"}]}`

type fixture struct {
	agent       *testagent.Agent
	server      *testagent.Server
	socket      string
	installer   cniconf.Installer
	gate        *Gate
	reconnected atomic.Int32
	reported    atomic.Int32
}

func start(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{agent: testagent.New(), socket: testagent.Socket(t)}
	f.agent.HoldPodCidrs("10.244.1.0/24")
	f.server = testagent.Serve(t, f.socket, f.agent)
	dir := t.TempDir()
	f.installer = cniconf.Installer{Source: filepath.Join(dir, "source.conflist"), Dir: filepath.Join(dir, "net.d"), Name: "10-dpcni.conflist"}
	if err := os.WriteFile(f.installer.Source, []byte(conflist), 0o644); err != nil {
		t.Fatal(err)
	}
	f.gate = New(testagent.Client(t, f.socket), f.installer, 20*time.Millisecond, time.Second, Hooks{
		Reconnected: func() { f.reconnected.Add(1) },
		Reported:    func([]string) { f.reported.Add(1) },
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		f.gate.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return f
}

func (f *fixture) installed() bool {
	_, err := os.Stat(f.installer.Path())
	return err == nil
}

func TestConflistWaitsForTheAgentToBeReady(t *testing.T) {
	f := start(t)
	f.agent.HoldPodCidrs()
	testagent.Eventually(t, 5*time.Second, "a few Status polls", func() bool { return f.reported.Load() >= 5 })
	if f.installed() {
		t.Fatal("conflist installed while the agent is not ready")
	}
	// Ready, but without pod CIDRs (it could not give a pod an address) is not enough.
	f.agent.SetReady(true, "serving")
	before := f.reported.Load()
	testagent.Eventually(t, 5*time.Second, "a few more polls", func() bool { return f.reported.Load() >= before+5 })
	if f.installed() {
		t.Fatal("conflist installed while the agent holds no pod CIDRs")
	}
	f.agent.HoldPodCidrs("10.244.1.0/24")
	testagent.Eventually(t, 5*time.Second, "the conflist", f.installed)
	data, err := os.ReadFile(f.installer.Path())
	if err != nil || string(data) != conflist {
		t.Fatalf("installed %q, %v", data, err)
	}
}

func TestConflistWaitsForTheAgentToListen(t *testing.T) {
	f := start(t)
	f.server.Stop()
	f.agent.SetReady(true, "serving")
	time.Sleep(200 * time.Millisecond)
	if f.installed() {
		t.Fatal("conflist installed with no agent")
	}
	testagent.Serve(t, f.socket, f.agent)
	testagent.Eventually(t, 5*time.Second, "the conflist once the agent listens", f.installed)
}

// An agent that stops answering or reports not ready for a while (a restart, an upgrade) leaves the
// conflist in place, so the node stays Ready.
func TestConflistStaysWhenTheAgentFails(t *testing.T) {
	f := start(t)
	f.agent.SetReady(true, "serving")
	testagent.Eventually(t, 5*time.Second, "the conflist", f.installed)

	f.agent.FailStatus(status.Error(codes.Unavailable, "restarting"))
	before := f.reported.Load()
	time.Sleep(200 * time.Millisecond)
	if f.reported.Load() != before {
		t.Fatal("Status still answering")
	}
	if !f.installed() {
		t.Fatal("conflist removed while Status failed")
	}
	f.server.Stop()
	time.Sleep(200 * time.Millisecond)
	if !f.installed() {
		t.Fatal("conflist removed while the agent was down")
	}
	f.agent.FailStatus(nil)
	f.agent.SetReady(false, "restoring pods")
	testagent.Serve(t, f.socket, f.agent)
	testagent.Eventually(t, 5*time.Second, "Status again", func() bool { return f.reported.Load() > before+3 })
	if !f.installed() {
		t.Fatal("conflist removed while the agent was not ready")
	}
}

// Reconnected runs on the first answer and after each outage, not on every poll.
func TestReconnectedAfterEachOutage(t *testing.T) {
	f := start(t)
	testagent.Eventually(t, 5*time.Second, "the first answer", func() bool { return f.reconnected.Load() == 1 })
	testagent.Eventually(t, 5*time.Second, "more polls", func() bool { return f.reported.Load() >= 5 })
	if got := f.reconnected.Load(); got != 1 {
		t.Fatalf("Reconnected ran %d times without an outage", got)
	}
	f.server.Stop()
	time.Sleep(100 * time.Millisecond)
	testagent.Serve(t, f.socket, f.agent)
	testagent.Eventually(t, 5*time.Second, "Reconnected after the restart", func() bool { return f.reconnected.Load() == 2 })
}

func TestAliveFollowsThePollLoop(t *testing.T) {
	f := start(t)
	testagent.Eventually(t, 5*time.Second, "a poll", func() bool { return f.reported.Load() > 0 })
	if !f.gate.Alive(time.Second) {
		t.Fatal("not alive while polling")
	}
	stale := New(nil, f.installer, time.Second, time.Second, Hooks{})
	stale.lastPoll.Store(time.Now().Add(-time.Minute).UnixNano())
	if stale.Alive(10 * time.Second) {
		t.Fatal("alive although the last poll is a minute old")
	}
}
