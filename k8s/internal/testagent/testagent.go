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

// Agent answers Status, SetPodCidrs, SetRemoteNodes and ReportRouteSource as its fields say and
// records the calls.
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

	remote       []RemoteNode   // the node list held, as the last accepted SetRemoteNodes set it
	remoteCalls  [][]RemoteNode // every SetRemoteNodes request
	remoteRefuse error          // returned by every SetRemoteNodes call while set
	routeState   string         // RouteSync.state: "unset", "in-sync" or "stale"
	reports      []RouteReport  // every ReportRouteSource request
}

// RemoteNode is one entry of a SetRemoteNodes request.
type RemoteNode struct {
	Name     string
	Address  string
	PodCidrs []string
}

// RouteReport is one ReportRouteSource request.
type RouteReport struct {
	InSync  bool
	Message string
}

// New returns an agent that is not ready and has no pod CIDRs.
func New() *Agent { return &Agent{msg: "waiting for pod CIDRs", routeState: "unset"} }

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
	prefixes := 0
	for _, n := range a.remote {
		prefixes += len(n.PodCidrs)
	}
	return &dpcniv1.StatusResponse{Ready: a.ready, Message: a.msg, PodCidrs: slices.Clone(a.cidrs),
		RouteSync: &dpcniv1.RouteSync{State: a.routeState, Nodes: uint32(len(a.remote)), Prefixes: uint32(prefixes)}}, nil
}

// SetRemoteNodes implements the RPC: the list replaces the one held and makes the state "in-sync",
// unless RefuseRemoteNodes set an error.
func (a *Agent) SetRemoteNodes(_ context.Context, req *dpcniv1.SetRemoteNodesRequest) (*dpcniv1.SetRemoteNodesResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	list := make([]RemoteNode, 0, len(req.GetNodes()))
	prefixes := 0
	for _, n := range req.GetNodes() {
		list = append(list, RemoteNode{Name: n.GetName(), Address: n.GetAddress(), PodCidrs: slices.Clone(n.GetPodCidrs())})
		prefixes += len(n.GetPodCidrs())
	}
	a.remoteCalls = append(a.remoteCalls, list)
	if a.remoteRefuse != nil {
		return nil, a.remoteRefuse
	}
	a.remote = list
	a.routeState = "in-sync"
	return &dpcniv1.SetRemoteNodesResponse{Nodes: uint32(len(list)), Prefixes: uint32(prefixes)}, nil
}

// ReportRouteSource implements the RPC: in_sync=false makes the state "stale" and keeps the list.
func (a *Agent) ReportRouteSource(_ context.Context, req *dpcniv1.ReportRouteSourceRequest) (*dpcniv1.ReportRouteSourceResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reports = append(a.reports, RouteReport{InSync: req.GetInSync(), Message: req.GetMessage()})
	if !req.GetInSync() && a.routeState != "unset" {
		a.routeState = "stale"
	}
	return &dpcniv1.ReportRouteSourceResponse{}, nil
}

// RefuseRemoteNodes makes every SetRemoteNodes call fail with err until RefuseRemoteNodes(nil).
func (a *Agent) RefuseRemoteNodes(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.remoteRefuse = err
}

// RemoteNodes returns the node list the agent holds.
func (a *Agent) RemoteNodes() []RemoteNode {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.remote)
}

// RemoteNodesCalls returns the SetRemoteNodes requests so far.
func (a *Agent) RemoteNodesCalls() [][]RemoteNode {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.remoteCalls)
}

// RouteReports returns the ReportRouteSource requests so far.
func (a *Agent) RouteReports() []RouteReport {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.reports)
}

// RouteState returns what Status reports as route_sync.state.
func (a *Agent) RouteState() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.routeState
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
