package remotenodes

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/klog/v2"

	"dpcni.dev/k8s/internal/dpcniv1"
	"dpcni.dev/k8s/internal/testagent"
)

const wait5s = 5 * time.Second

func testOptions() Options {
	return Options{
		Coalesce:       20 * time.Millisecond,
		Resync:         time.Hour,
		CallTimeout:    time.Second,
		Backoff:        wait.Backoff{Duration: 10 * time.Millisecond, Factor: 2, Steps: 1 << 30, Cap: 50 * time.Millisecond},
		RefusedBackoff: wait.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Steps: 1 << 30, Cap: 200 * time.Millisecond},
	}
}

// mkNode is a Node with an InternalIP (empty: none) and pod CIDRs.
func mkNode(name, internalIP string, podCIDRs ...string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{PodCIDRs: podCIDRs}}
	if len(podCIDRs) > 0 {
		n.Spec.PodCIDR = podCIDRs[0]
	}
	n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeHostName, Address: name})
	if internalIP != "" {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: internalIP})
	}
	return n
}

func annotate(n *corev1.Node, value string) *corev1.Node {
	n.Annotations = map[string]string{DataAddressAnnotation: value, "other": "kept out"}
	return n
}

type fixture struct {
	client *fake.Clientset
	agent  *testagent.Agent
	server *testagent.Server
	socket string
	syncer *Syncer

	failing  atomic.Bool // list and watch of Nodes fail as with the API server away
	refused  atomic.Bool // watches of Nodes fail with "connection refused", lists go through
	mu       sync.Mutex
	watchers []watch.Interface
}

const apiDown = "dial tcp 10.96.0.1:443: connect: no route to host"

// fakeAPI makes the clientset's Node list and watch fail while f.failing is set, and keeps the
// watches it opens so that a test can cut them.
func (f *fixture) fakeAPI() {
	f.client.PrependReactor("list", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		if f.failing.Load() {
			return true, nil, errors.New(apiDown)
		}
		return false, nil, nil
	})
	f.client.PrependWatchReactor("nodes", func(a k8stesting.Action) (bool, watch.Interface, error) {
		if f.failing.Load() {
			return true, nil, errors.New(apiDown)
		}
		if f.refused.Load() {
			return true, nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
		}
		w, err := f.client.Tracker().Watch(a.GetResource(), a.GetNamespace())
		if err != nil {
			return true, nil, err
		}
		f.mu.Lock()
		f.watchers = append(f.watchers, w)
		f.mu.Unlock()
		return true, w, nil
	})
}

// cutWatches ends the open watches, as a lost connection to the API server does.
func (f *fixture) cutWatches() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, w := range f.watchers {
		w.Stop()
	}
	f.watchers = nil
}

// start runs a syncer and its informer against nodes in a fake clientset and a fresh fake agent
// that already holds its pod CIDRs, as the readiness poller would report it.
func start(t *testing.T, nodes ...runtime.Object) *fixture {
	t.Helper()
	return startWith(t, testOptions(), nodes...)
}

func startWith(t *testing.T, opts Options, nodes ...runtime.Object) *fixture {
	t.Helper()
	f := &fixture{client: fake.NewClientset(nodes...), agent: testagent.New(), socket: testagent.Socket(t)}
	f.fakeAPI()
	f.server = testagent.Serve(t, f.socket, f.agent)
	f.syncer = New(testagent.Client(t, f.socket), "node-a", opts)
	liveSyncers.Store(f.syncer, true)
	t.Cleanup(func() {
		if t.Failed() {
			debugState(t)
		}
		liveSyncers.Delete(f.syncer)
	})
	run(t, f.syncer.Run)
	f.syncer.AgentStatus(&dpcniv1.StatusResponse{Ready: true, PodCidrs: []string{"10.244.1.0/24"}})
	run(t, func(ctx context.Context) { Watch(ctx, f.client, f.syncer) })
	return f
}

func run(t *testing.T, fn func(context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		fn(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

func rn(name, addr string, cidrs ...string) testagent.RemoteNode {
	return testagent.RemoteNode{Name: name, Address: addr, PodCidrs: cidrs}
}

func listString(l []testagent.RemoteNode) string { return fmt.Sprint(l) }

func holds(a *testagent.Agent, want ...testagent.RemoteNode) func() bool {
	if want == nil {
		want = []testagent.RemoteNode{}
	}
	return func() bool {
		got := a.RemoteNodes()
		return got != nil && listString(got) == listString(want)
	}
}

func (f *fixture) update(t *testing.T, n *corev1.Node) {
	t.Helper()
	if _, err := f.client.CoreV1().Nodes().Update(context.Background(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// captureLogs sends klog's output to a buffer for the test.
func captureLogs(t *testing.T) func() string {
	var mu sync.Mutex
	var buf bytes.Buffer
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	fs.Set("logtostderr", "false")
	// Each line once: by default an error line is also written to the INFO and WARNING outputs.
	fs.Set("one_output", "true")
	fs.Set("v", "0")
	klog.SetOutput(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}))
	t.Cleanup(func() {
		klog.Flush()
		fs.Set("logtostderr", "true")
		fs.Set("one_output", "false")
	})
	return func() string {
		klog.Flush()
		mu.Lock()
		defer mu.Unlock()
		return buf.String()
	}
}

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(p []byte) (int, error) { return w(p) }

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		name    string
		node    *corev1.Node
		want    Remote
		ok      bool
		noteHas string
	}{
		{"internal IP", mkNode("b", "192.168.1.2", "10.244.2.0/24"), Remote{"b", "192.168.1.2", []string{"10.244.2.0/24"}}, true, ""},
		{"annotation wins", annotate(mkNode("b", "192.168.1.2", "10.244.2.0/24"), "172.16.0.2"), Remote{"b", "172.16.0.2", []string{"10.244.2.0/24"}}, true, ""},
		{"invalid annotation falls back", annotate(mkNode("b", "192.168.1.2", "10.244.2.0/24"), "not-an-ip"), Remote{"b", "192.168.1.2", []string{"10.244.2.0/24"}}, true, "not a usable IPv4"},
		{"IPv6 annotation falls back", annotate(mkNode("b", "192.168.1.2", "10.244.2.0/24"), "fd00::2"), Remote{"b", "192.168.1.2", []string{"10.244.2.0/24"}}, true, "not a usable IPv4"},
		{"loopback annotation falls back", annotate(mkNode("b", "192.168.1.2", "10.244.2.0/24"), "127.0.0.1"), Remote{"b", "192.168.1.2", []string{"10.244.2.0/24"}}, true, "not a usable IPv4"},
		{"first IPv4 InternalIP", func() *corev1.Node {
			n := mkNode("b", "", "10.244.2.0/24")
			n.Status.Addresses = append(n.Status.Addresses,
				corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "203.0.113.9"},
				corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "fd00::2"},
				corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "192.168.1.3"},
				corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "192.168.1.4"})
			return n
		}(), Remote{"b", "192.168.1.3", []string{"10.244.2.0/24"}}, true, ""},
		{"IPv6 CIDRs left out", mkNode("b", "192.168.1.2", "10.244.2.0/24", "fd00:10:244:2::/64"), Remote{"b", "192.168.1.2", []string{"10.244.2.0/24"}}, true, "IPv6 pod CIDRs"},
		{"host bits masked", mkNode("b", "192.168.1.2", "10.244.2.7/24"), Remote{"b", "192.168.1.2", []string{"10.244.2.0/24"}}, true, ""},
		{"no pod CIDR", mkNode("b", "192.168.1.2"), Remote{"b", "192.168.1.2", nil}, false, ""},
		{"IPv6 only", mkNode("b", "192.168.1.2", "fd00:10:244:2::/64"), Remote{"b", "192.168.1.2", nil}, false, "IPv6"},
		{"no address", mkNode("b", "", "10.244.2.0/24"), Remote{"b", "", []string{"10.244.2.0/24"}}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, skip, note := Describe(tc.node)
			if ok != tc.ok || fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("Describe = %v %v (skip %q), want %v %v", got, ok, skip, tc.want, tc.ok)
			}
			if !ok && skip == "" {
				t.Error("left out without a reason")
			}
			if !strings.Contains(note, tc.noteHas) || (tc.noteHas == "" && note != "") {
				t.Errorf("note %q, want it to say %q", note, tc.noteHas)
			}
		})
	}
}

// Node add, update and delete each reach the agent as a whole, sorted list without this node.
func TestNodeChangesReachTheAgent(t *testing.T) {
	f := start(t,
		mkNode("node-a", "192.168.1.1", "10.244.1.0/24"),
		mkNode("node-c", "192.168.1.3", "10.244.3.0/24"),
		mkNode("node-b", "192.168.1.2", "10.244.2.0/24", "fd00:10:244:2::/64"))
	testagent.Eventually(t, wait5s, "the first list", holds(f.agent,
		rn("node-b", "192.168.1.2", "10.244.2.0/24"), rn("node-c", "192.168.1.3", "10.244.3.0/24")))
	if calls := f.agent.RemoteNodesCalls(); len(calls) != 1 {
		t.Fatalf("%d SetRemoteNodes calls for the first list, want 1 (no partial list before the informer synced): %v", len(calls), calls)
	}
	if got := f.agent.RouteState(); got != "in-sync" {
		t.Fatalf("route state %q", got)
	}

	// Added.
	if _, err := f.client.CoreV1().Nodes().Create(context.Background(), mkNode("node-d", "192.168.1.4", "10.244.4.0/24"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testagent.Eventually(t, wait5s, "node-d added", holds(f.agent,
		rn("node-b", "192.168.1.2", "10.244.2.0/24"), rn("node-c", "192.168.1.3", "10.244.3.0/24"), rn("node-d", "192.168.1.4", "10.244.4.0/24")))

	// Updated: the annotation names another address.
	f.update(t, annotate(mkNode("node-c", "192.168.1.3", "10.244.3.0/24"), "172.16.0.3"))
	testagent.Eventually(t, wait5s, "node-c's data address", holds(f.agent,
		rn("node-b", "192.168.1.2", "10.244.2.0/24"), rn("node-c", "172.16.0.3", "10.244.3.0/24"), rn("node-d", "192.168.1.4", "10.244.4.0/24")))

	// Deleted.
	if err := f.client.CoreV1().Nodes().Delete(context.Background(), "node-b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testagent.Eventually(t, wait5s, "node-b withdrawn", holds(f.agent,
		rn("node-c", "172.16.0.3", "10.244.3.0/24"), rn("node-d", "192.168.1.4", "10.244.4.0/24")))

	// Changes to this node, or to nothing the list is made of (a label, a heartbeat), send nothing.
	calls := len(f.agent.RemoteNodesCalls())
	f.update(t, mkNode("node-a", "192.168.1.99", "10.244.1.0/24"))
	n := mkNode("node-d", "192.168.1.4", "10.244.4.0/24")
	n.Labels = map[string]string{"touched": "yes"}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	f.update(t, n)
	testagent.Never(t, 300*time.Millisecond, "a list sent for a change that does not alter it", func() bool {
		return len(f.agent.RemoteNodesCalls()) != calls
	})

	// The last other node goes: an empty list is a real answer, and is sent.
	for _, name := range []string{"node-c", "node-d"} {
		if err := f.client.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	testagent.Eventually(t, wait5s, "an empty list", holds(f.agent))
}

// A burst of changes within the coalescing window makes one call.
func TestBurstIsCoalesced(t *testing.T) {
	opts := testOptions()
	opts.Coalesce = 1500 * time.Millisecond // the burst below takes well under this, even with -race
	f := startWith(t, opts, mkNode("node-a", "192.168.1.1", "10.244.1.0/24"))
	testagent.Eventually(t, wait5s, "the first list", holds(f.agent))
	before := len(f.agent.RemoteNodesCalls())
	var want []testagent.RemoteNode
	for i := 2; i <= 11; i++ {
		name := fmt.Sprintf("node-%02d", i)
		if _, err := f.client.CoreV1().Nodes().Create(context.Background(),
			mkNode(name, fmt.Sprintf("192.168.1.%d", i), fmt.Sprintf("10.244.%d.0/24", i)), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		want = append(want, rn(name, fmt.Sprintf("192.168.1.%d", i), fmt.Sprintf("10.244.%d.0/24", i)))
	}
	testagent.Eventually(t, wait5s, "ten nodes", holds(f.agent, want...))
	if n := len(f.agent.RemoteNodesCalls()) - before; n != 1 {
		t.Fatalf("%d calls for a burst of 10 Nodes, want 1", n)
	}
}

// Nodes that cannot be routed to are left out with one log line each, not one per event; an
// invalid annotation is logged and the InternalIP used.
func TestLeftOutNodesAreLoggedOnce(t *testing.T) {
	logs := captureLogs(t)
	f := start(t,
		mkNode("node-a", "192.168.1.1", "10.244.1.0/24"),
		mkNode("node-b", "", "10.244.2.0/24"),
		mkNode("node-c", "192.168.1.3"),
		annotate(mkNode("node-d", "192.168.1.4", "10.244.4.0/24"), "10.0.0.300"))
	testagent.Eventually(t, wait5s, "node-d only, on its InternalIP", holds(f.agent, rn("node-d", "192.168.1.4", "10.244.4.0/24")))
	for i := 0; i < 3; i++ {
		n := mkNode("node-b", "", "10.244.2.0/24")
		n.Labels = map[string]string{"round": fmt.Sprint(i)}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: fmt.Sprint(i)}}
		f.update(t, n)
		f.syncer.AgentReconnected() // forces a new computation and send each round
		time.Sleep(50 * time.Millisecond)
	}
	testagent.Eventually(t, wait5s, "the forced sends", func() bool { return len(f.agent.RemoteNodesCalls()) >= 2 })
	out := logs()
	for _, want := range []string{`node="node-b"`, `node="node-c"`} {
		if n := strings.Count(out, "Leaving a node out"); n != 2 || strings.Count(out, want) != 1 {
			t.Errorf("want one line for %s among the left-out nodes, logs:\n%s", want, out)
		}
	}
	if !strings.Contains(out, `annotation dpcni.dev/data-address=\"10.0.0.300\" is not a usable IPv4 address`) || strings.Count(out, "10.0.0.300") != 1 {
		t.Errorf("want one line about node-d's invalid annotation, logs:\n%s", out)
	}

	// node-b gets an InternalIP: it joins the list.
	f.update(t, mkNode("node-b", "192.168.1.2", "10.244.2.0/24"))
	testagent.Eventually(t, wait5s, "node-b joins", holds(f.agent,
		rn("node-b", "192.168.1.2", "10.244.2.0/24"), rn("node-d", "192.168.1.4", "10.244.4.0/24")))
}

// The watch fails: the agent is told once, gets no (empty) list meanwhile, and once the watch is
// back the list, with what changed during the outage, makes it in-sync again.
func TestWatchFailureReportsAndKeepsRoutes(t *testing.T) {
	f := start(t,
		mkNode("node-a", "192.168.1.1", "10.244.1.0/24"),
		mkNode("node-b", "192.168.1.2", "10.244.2.0/24"))
	testagent.Eventually(t, wait5s, "the first list", holds(f.agent, rn("node-b", "192.168.1.2", "10.244.2.0/24")))

	// The API server goes away: the running watch ends and every list and watch fails.
	calls := len(f.agent.RemoteNodesCalls())
	f.failing.Store(true)
	f.cutWatches()

	testagent.Eventually(t, wait5s, "ReportRouteSource(in_sync=false)", func() bool { return len(f.agent.RouteReports()) >= 1 })
	r := f.agent.RouteReports()[0]
	if r.InSync || !strings.Contains(r.Message, "no route to host") {
		t.Fatalf("report %+v: want in_sync=false with the watch error", r)
	}
	if got := f.agent.RouteState(); got != "stale" {
		t.Fatalf("route state %q, want stale", got)
	}
	// The reflector retries (about every second): still one report, and no list at all, so the
	// agent keeps node-b's routes.
	testagent.Never(t, 2500*time.Millisecond, "a second report, or a list sent while the watch fails", func() bool {
		return len(f.agent.RouteReports()) != 1 || len(f.agent.RemoteNodesCalls()) != calls
	})
	if !holds(f.agent, rn("node-b", "192.168.1.2", "10.244.2.0/24"))() {
		t.Fatalf("agent holds %v", f.agent.RemoteNodes())
	}
	// An agent restart meanwhile gets the report again, and still no list.
	f.syncer.AgentReconnected()
	testagent.Eventually(t, wait5s, "the report again after a reconnect", func() bool { return len(f.agent.RouteReports()) == 2 })
	if len(f.agent.RemoteNodesCalls()) != calls {
		t.Fatal("list sent while the watch fails")
	}

	// node-c registered during the outage; the watch comes back.
	f.failing.Store(false)
	if _, err := f.client.CoreV1().Nodes().Create(context.Background(), mkNode("node-c", "192.168.1.3", "10.244.3.0/24"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testagent.Eventually(t, 10*time.Second, "the list with node-c after the watch is back", holds(f.agent,
		rn("node-b", "192.168.1.2", "10.244.2.0/24"), rn("node-c", "192.168.1.3", "10.244.3.0/24")))
	if got := f.agent.RouteState(); got != "in-sync" {
		t.Fatalf("route state %q after the watch is back, want in-sync", got)
	}
	for _, call := range f.agent.RemoteNodesCalls() {
		if len(call) == 0 {
			t.Fatalf("an empty list was sent: %v", f.agent.RemoteNodesCalls())
		}
	}
}

// client-go's reflector retries a watch refused with "connection refused" by itself, without calling
// the watch error handler: the wrapped watch call still sees the outage, and its end.
func TestRefusedWatchIsAnOutageToo(t *testing.T) {
	f := start(t,
		mkNode("node-a", "192.168.1.1", "10.244.1.0/24"),
		mkNode("node-b", "192.168.1.2", "10.244.2.0/24"))
	testagent.Eventually(t, wait5s, "the first list", holds(f.agent, rn("node-b", "192.168.1.2", "10.244.2.0/24")))
	calls := len(f.agent.RemoteNodesCalls())
	f.refused.Store(true)
	f.cutWatches()
	testagent.Eventually(t, wait5s, "ReportRouteSource(in_sync=false)", func() bool { return len(f.agent.RouteReports()) == 1 })
	if r := f.agent.RouteReports()[0]; r.InSync || !strings.Contains(r.Message, "connection refused") {
		t.Fatalf("report %+v: want in_sync=false with the refused watch", r)
	}
	testagent.Never(t, 1500*time.Millisecond, "a second report, or a list, while watches are refused", func() bool {
		return len(f.agent.RouteReports()) != 1 || len(f.agent.RemoteNodesCalls()) != calls
	})
	f.refused.Store(false)
	testagent.Eventually(t, 10*time.Second, "the list again once a watch opens", func() bool {
		return len(f.agent.RemoteNodesCalls()) > calls && f.agent.RouteState() == "in-sync"
	})
	if !holds(f.agent, rn("node-b", "192.168.1.2", "10.244.2.0/24"))() {
		t.Fatalf("agent holds %v", f.agent.RemoteNodes())
	}
}

// A restarted agent (new process, empty state) gets the whole list again.
func TestRestartedAgentGetsTheListAgain(t *testing.T) {
	f := start(t, mkNode("node-a", "192.168.1.1", "10.244.1.0/24"), mkNode("node-b", "192.168.1.2", "10.244.2.0/24"))
	testagent.Eventually(t, wait5s, "the first list", holds(f.agent, rn("node-b", "192.168.1.2", "10.244.2.0/24")))

	f.server.Stop()
	fresh := testagent.New()
	testagent.Serve(t, f.socket, fresh)
	// What the readiness poller reports of the new process: answers again, and has no list.
	f.syncer.AgentReconnected()
	testagent.Eventually(t, wait5s, "the list in the new agent", holds(fresh, rn("node-b", "192.168.1.2", "10.244.2.0/24")))

	// An agent that lost the list between two polls says so in Status: sent again.
	calls := len(fresh.RemoteNodesCalls())
	f.syncer.AgentStatus(&dpcniv1.StatusResponse{PodCidrs: []string{"10.244.1.0/24"}, RouteSync: &dpcniv1.RouteSync{State: "in-sync"}})
	testagent.Never(t, 200*time.Millisecond, "sent again though the agent is in-sync", func() bool { return len(fresh.RemoteNodesCalls()) != calls })
	f.syncer.AgentStatus(&dpcniv1.StatusResponse{PodCidrs: []string{"10.244.1.0/24"}, RouteSync: &dpcniv1.RouteSync{State: "unset"}})
	testagent.Eventually(t, wait5s, "sent again after Status said unset", func() bool { return len(fresh.RemoteNodesCalls()) == calls+1 })
}

// Nothing goes to an agent that holds no pod CIDRs yet, and the periodic resync sends the same list.
func TestWaitsForPodCidrsAndResyncs(t *testing.T) {
	socket := testagent.Socket(t)
	agent := testagent.New()
	testagent.Serve(t, socket, agent)
	opts := testOptions()
	opts.Resync = 300 * time.Millisecond
	s := New(testagent.Client(t, socket), "node-a", opts)
	client := fake.NewClientset(mkNode("node-a", "192.168.1.1", "10.244.1.0/24"), mkNode("node-b", "192.168.1.2", "10.244.2.0/24"))
	run(t, s.Run)
	run(t, func(ctx context.Context) { Watch(ctx, client, s) })
	s.AgentReconnected()
	s.AgentStatus(&dpcniv1.StatusResponse{})
	testagent.Never(t, 400*time.Millisecond, "a list before the agent held pod CIDRs", func() bool { return len(agent.RemoteNodesCalls()) > 0 })
	s.AgentStatus(&dpcniv1.StatusResponse{PodCidrs: []string{"10.244.1.0/24"}})
	testagent.Eventually(t, wait5s, "the first list", holds(agent, rn("node-b", "192.168.1.2", "10.244.2.0/24")))
	testagent.Eventually(t, wait5s, "two periodic resyncs", func() bool { return len(agent.RemoteNodesCalls()) >= 3 })

	// A new agent without pod CIDRs yet: nothing, not even the resync, until it has them.
	s.AgentStatus(&dpcniv1.StatusResponse{})
	time.Sleep(50 * time.Millisecond) // a call in flight finishes
	calls := len(agent.RemoteNodesCalls())
	testagent.Never(t, 700*time.Millisecond, "a list to an agent without pod CIDRs", func() bool { return len(agent.RemoteNodesCalls()) != calls })
	s.AgentStatus(&dpcniv1.StatusResponse{PodCidrs: []string{"10.244.1.0/24"}})
	testagent.Eventually(t, wait5s, "the list once it has them", func() bool { return len(agent.RemoteNodesCalls()) > calls })
}

// A list the agent refuses is logged with the agent's message and retried with backoff until the
// agent takes it.
func TestRefusedListIsRetried(t *testing.T) {
	logs := captureLogs(t)
	socket := testagent.Socket(t)
	agent := testagent.New()
	testagent.Serve(t, socket, agent)
	agent.RefuseRemoteNodes(status.Error(codes.InvalidArgument, `node "node-b": address 192.168.1.2 is this node's own`))
	s := New(testagent.Client(t, socket), "node-a", testOptions())
	client := fake.NewClientset(mkNode("node-a", "192.168.1.1", "10.244.1.0/24"), mkNode("node-b", "192.168.1.2", "10.244.2.0/24"))
	run(t, s.Run)
	run(t, func(ctx context.Context) { Watch(ctx, client, s) })
	s.AgentStatus(&dpcniv1.StatusResponse{PodCidrs: []string{"10.244.1.0/24"}})

	testagent.Eventually(t, wait5s, "three refused calls", func() bool { return len(agent.RemoteNodesCalls()) >= 3 })
	calls := agent.RemoteNodesCalls()
	testagent.Never(t, 80*time.Millisecond, "a retry before the refusal backoff", func() bool {
		return len(agent.RemoteNodesCalls()) > len(calls)+1
	})
	out := logs()
	if !strings.Contains(out, `node \"node-b\": address 192.168.1.2`) || strings.Count(out, "Agent refuses the remote node list") != 1 {
		t.Errorf("want one error line with the agent's message, logs:\n%s", out)
	}
	agent.RefuseRemoteNodes(nil)
	testagent.Eventually(t, wait5s, "accepted once fixed", holds(agent, rn("node-b", "192.168.1.2", "10.244.2.0/24")))
	testagent.Eventually(t, wait5s, "one accepted call counted", func() bool { return s.Calls() == 1 })
}

func TestEqualListsAreSortedCopies(t *testing.T) {
	a := []Remote{{"b", "1.1.1.1", []string{"10.0.0.0/24"}}}
	if !slices.EqualFunc(a, []Remote{{"b", "1.1.1.1", []string{"10.0.0.0/24"}}}, equalRemote) {
		t.Fatal("equal lists differ")
	}
	if slices.EqualFunc(a, []Remote{{"b", "1.1.1.1", []string{"10.0.1.0/24"}}}, equalRemote) {
		t.Fatal("different CIDRs equal")
	}
}

// liveSyncers are the fixtures' syncers, whose state debugState logs when a test fails: a list that
// never arrives is otherwise hard to tell from an event the fake clientset lost.
var liveSyncers sync.Map

func debugState(t *testing.T) {
	liveSyncers.Range(func(k, _ any) bool {
		s := k.(*Syncer)
		s.mu.Lock()
		names := []string{}
		for _, n := range s.nodes() {
			names = append(names, n.Name)
		}
		t.Logf("syncer: agentReady=%v synced=%v dirty=%v force=%v stale=%q reportDue=%v sentOnce=%v sent=%v notBefore=%v store=%v",
			s.agentReady, s.synced, s.dirty, s.force, s.stale, s.reportDue, s.sentOnce, s.sent, s.notBefore, names)
		s.mu.Unlock()
		return true
	})
}
