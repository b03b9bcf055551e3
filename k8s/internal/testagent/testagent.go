// Package testagent is an in-process fake of dpcni-agent's gRPC API on a unix socket, for tests.
package testagent

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"dpcni.dev/k8s/internal/agent"
	"dpcni.dev/k8s/internal/dpcniv1"
)

// Agent answers Status and SetPodCidrs as its fields say and records the SetPodCidrs calls.
type Agent struct {
	dpcniv1.UnimplementedAgentServer

	mu     sync.Mutex
	ready  bool
	msg    string
	cidrs  []string     // what Status lists
	setErr []error      // returned by the next SetPodCidrs calls, one each; then success
	refuse error        // returned by every SetPodCidrs call while set
	calls  [][]string   // every SetPodCidrs request
	status func() error // when set, Status fails with its error
}

// New returns an agent that is not ready and has no pod CIDRs.
func New() *Agent { return &Agent{msg: "waiting for pod CIDRs"} }

// SetReady sets what Status reports.
func (a *Agent) SetReady(ready bool, msg string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ready, a.msg = ready, msg
}

// HoldPodCidrs sets the CIDRs the agent holds, as if a SetPodCidrs call had come.
func (a *Agent) HoldPodCidrs(cidrs ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cidrs = cidrs
}

// FailSetPodCidrs makes the next len(errs) SetPodCidrs calls fail with errs in order.
func (a *Agent) FailSetPodCidrs(errs ...error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.setErr = append(a.setErr, errs...)
}

// Refuse makes every SetPodCidrs call fail with err until Refuse(nil).
func (a *Agent) Refuse(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.refuse = err
}

// FailStatus makes Status fail with err until FailStatus(nil).
func (a *Agent) FailStatus(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err == nil {
		a.status = nil
		return
	}
	a.status = func() error { return err }
}

// Calls returns the SetPodCidrs requests so far.
func (a *Agent) Calls() [][]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.calls)
}

// PodCidrs returns the CIDRs the agent holds (what Status lists).
func (a *Agent) PodCidrs() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.cidrs)
}

// Status implements the RPC.
func (a *Agent) Status(context.Context, *dpcniv1.StatusRequest) (*dpcniv1.StatusResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.status != nil {
		return nil, a.status()
	}
	return &dpcniv1.StatusResponse{Ready: a.ready, Message: a.msg, PodCidrs: slices.Clone(a.cidrs)}, nil
}

// SetPodCidrs implements the RPC as the contract describes it: the first call sets the CIDRs, the
// same ones again are accepted, different ones are refused.
func (a *Agent) SetPodCidrs(_ context.Context, req *dpcniv1.SetPodCidrsRequest) (*dpcniv1.SetPodCidrsResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, slices.Clone(req.GetPodCidrs()))
	if a.refuse != nil {
		return nil, a.refuse
	}
	if len(a.setErr) > 0 {
		err := a.setErr[0]
		a.setErr = a.setErr[1:]
		return nil, err
	}
	if len(a.cidrs) > 0 && !slices.Equal(a.cidrs, req.GetPodCidrs()) {
		return nil, status.Errorf(codes.FailedPrecondition, "pod CIDRs %v already set", a.cidrs)
	}
	a.cidrs = slices.Clone(req.GetPodCidrs())
	return &dpcniv1.SetPodCidrsResponse{}, nil
}

// SocketDir returns a fresh directory short enough for a unix socket path (108 bytes at most;
// t.TempDir() embeds the test's name), removed when the test ends.
func SocketDir(t testing.TB) string {
	dir, err := os.MkdirTemp("", "dpk8s")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// Server is a running fake agent.
type Server struct {
	Socket string
	grpc   *grpc.Server
	done   chan struct{}
}

// Serve starts serving a on socket until Stop or the end of the test.
func Serve(t testing.TB, socket string, a *Agent) *Server {
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatalf("listen on %s: %v", socket, err)
	}
	s := &Server{Socket: socket, grpc: grpc.NewServer(), done: make(chan struct{})}
	dpcniv1.RegisterAgentServer(s.grpc, a)
	go func() {
		defer close(s.done)
		s.grpc.Serve(l)
	}()
	t.Cleanup(s.Stop)
	return s
}

// Stop ends the server as a killed agent would: connections close and the socket goes away.
func (s *Server) Stop() {
	s.grpc.Stop()
	<-s.done
	os.Remove(s.Socket)
}

// Client dials socket with the production client.
func Client(t testing.TB, socket string) dpcniv1.AgentClient {
	client, closeFn, err := agent.Dial(socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeFn() })
	return client
}

// Socket returns a socket path in a fresh directory.
func Socket(t testing.TB) string { return filepath.Join(SocketDir(t), "agent.sock") }

// Eventually fails the test unless cond becomes true within timeout.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Never fails the test if cond becomes true within d.
func Never(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			t.Fatalf("%s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
