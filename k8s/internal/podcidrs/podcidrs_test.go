package podcidrs

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	dpcniv1 "dpcni.dev/k8s/internal/dpcniv1"
	"dpcni.dev/k8s/internal/testagent"
)

const wait5s = 5 * time.Second

func testOptions() Options {
	return Options{
		CallTimeout: time.Second,
		Backoff:     wait.Backoff{Duration: 10 * time.Millisecond, Factor: 2, Steps: 1 << 30, Cap: 50 * time.Millisecond},
		SlowRetry:   400 * time.Millisecond,
		RemindEvery: 10,
	}
}

func node(name string, podCIDR string, podCIDRs ...string) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.NodeSpec{PodCIDR: podCIDR, PodCIDRs: podCIDRs},
	}
}

// start runs a sender against a fresh fake agent and returns both.
func start(t *testing.T) (*Sender, *testagent.Agent, *testagent.Server) {
	t.Helper()
	socket := testagent.Socket(t)
	agent := testagent.New()
	server := testagent.Serve(t, socket, agent)
	s := NewSender(testagent.Client(t, socket), "node-a", testOptions())
	run(t, s.Run)
	return s, agent, server
}

// run starts f until the end of the test, and waits for it to return then.
func run(t *testing.T, f func(context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		f(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

func callsEqual(a *testagent.Agent, want ...[]string) func() bool {
	return func() bool {
		return slices.EqualFunc(a.Calls(), want, func(x, y []string) bool { return slices.Equal(x, y) })
	}
}

func TestNodeCIDRs(t *testing.T) {
	for _, tc := range []struct {
		name                string
		node                *corev1.Node
		ipv4, ipv6, invalid []string
	}{
		{"none", node("n", ""), nil, nil, nil},
		{"podCIDRs", node("n", "10.244.1.0/24", "10.244.1.0/24"), []string{"10.244.1.0/24"}, nil, nil},
		{"dual stack", node("n", "10.244.1.0/24", "10.244.1.0/24", "fd00:10:244:1::/64"), []string{"10.244.1.0/24"}, []string{"fd00:10:244:1::/64"}, nil},
		{"IPv6 first", node("n", "fd00:10:244:1::/64", "fd00:10:244:1::/64", "10.244.1.0/24"), []string{"10.244.1.0/24"}, []string{"fd00:10:244:1::/64"}, nil},
		{"IPv6 only", node("n", "fd00:10:244:1::/64", "fd00:10:244:1::/64"), nil, []string{"fd00:10:244:1::/64"}, nil},
		{"older podCIDR only", node("n", "10.244.7.0/24"), []string{"10.244.7.0/24"}, nil, nil},
		{"garbage", node("n", "", "10.244.1.0", "10.244.2.0/24"), []string{"10.244.2.0/24"}, nil, []string{"10.244.1.0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ipv4, ipv6, invalid := NodeCIDRs(tc.node)
			if !slices.Equal(ipv4, tc.ipv4) || !slices.Equal(ipv6, tc.ipv6) || !slices.Equal(invalid, tc.invalid) {
				t.Fatalf("NodeCIDRs = %v %v %v, want %v %v %v", ipv4, ipv6, invalid, tc.ipv4, tc.ipv6, tc.invalid)
			}
		})
	}
}

// The informer end to end against client-go's fake clientset: nothing is sent while the Node has no
// pod CIDR, its IPv4 CIDR is sent once it gets one, IPv6 is left out, and other Nodes are ignored.
func TestWatchNodeSendsTheCIDRsWhenTheNodeGetsThem(t *testing.T) {
	client := fake.NewClientset(node("node-a", ""), node("node-b", "10.9.0.0/24", "10.9.0.0/24"))
	var mu sync.Mutex
	var selectors []string
	record := func(action k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		switch a := action.(type) {
		case k8stesting.ListAction:
			selectors = append(selectors, "list "+a.GetListRestrictions().Fields.String())
		case k8stesting.WatchAction:
			selectors = append(selectors, "watch "+a.GetWatchRestrictions().Fields.String())
		}
		return false, nil, nil
	}
	client.PrependReactor("list", "nodes", record)
	client.PrependWatchReactor("nodes", func(action k8stesting.Action) (bool, watch.Interface, error) {
		record(action)
		return false, nil, nil
	})

	s, agent, _ := start(t)
	run(t, func(ctx context.Context) { WatchNode(ctx, client, "node-a", s) })

	// client-go's fake ignores field selectors (it serves node-b too); the real API server applies
	// the one the informer must send.
	testagent.Eventually(t, wait5s, "the informer's list and watch", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(selectors) >= 2
	})
	mu.Lock()
	for _, sel := range selectors[:2] {
		if sel != "list metadata.name=node-a" && sel != "watch metadata.name=node-a" {
			t.Errorf("informer request %q: want the field selector metadata.name=node-a", sel)
		}
	}
	mu.Unlock()
	testagent.Never(t, 300*time.Millisecond, "SetPodCidrs called before the Node had a pod CIDR", func() bool {
		return len(agent.Calls()) > 0
	})

	_, err := client.CoreV1().Nodes().Update(context.Background(),
		node("node-a", "10.244.1.0/24", "10.244.1.0/24", "fd00:10:244:1::/64"), metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	testagent.Eventually(t, wait5s, "SetPodCidrs([10.244.1.0/24])", callsEqual(agent, []string{"10.244.1.0/24"}))
	if got := agent.PodCidrs(); !slices.Equal(got, []string{"10.244.1.0/24"}) {
		t.Fatalf("agent holds %v", got)
	}

	// An update that leaves the CIDRs as they are (a label) sends nothing more.
	n := node("node-a", "10.244.1.0/24", "10.244.1.0/24", "fd00:10:244:1::/64")
	n.Labels = map[string]string{"touched": "yes"}
	if _, err := client.CoreV1().Nodes().Update(context.Background(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	testagent.Never(t, 300*time.Millisecond, "SetPodCidrs sent again for an unrelated Node update", func() bool {
		return len(agent.Calls()) != 1
	})
}

func TestOlderPodCIDRFieldIsSent(t *testing.T) {
	s, agent, _ := start(t)
	s.NodeChanged(node("node-a", "10.244.7.0/24"))
	testagent.Eventually(t, wait5s, "SetPodCidrs([10.244.7.0/24])", callsEqual(agent, []string{"10.244.7.0/24"}))
}

func TestIPv6OnlyNodeSendsNothing(t *testing.T) {
	s, agent, _ := start(t)
	s.NodeChanged(node("node-a", "fd00:10:244:1::/64", "fd00:10:244:1::/64"))
	testagent.Never(t, 300*time.Millisecond, "SetPodCidrs called with no IPv4 CIDR", func() bool {
		return len(agent.Calls()) > 0
	})
}

// The agent's socket does not exist yet (the agent container starts after this one): the sender
// keeps trying and gets through once the agent listens.
func TestRetriesUntilTheAgentListens(t *testing.T) {
	socket := testagent.Socket(t)
	s := NewSender(testagent.Client(t, socket), "node-a", testOptions())
	run(t, s.Run)
	s.NodeChanged(node("node-a", "10.244.1.0/24", "10.244.1.0/24"))
	time.Sleep(300 * time.Millisecond)
	if s.Sent() != 0 {
		t.Fatal("sent without an agent")
	}
	agent := testagent.New()
	testagent.Serve(t, socket, agent)
	testagent.Eventually(t, wait5s, "SetPodCidrs once the agent listens", callsEqual(agent, []string{"10.244.1.0/24"}))
}

func TestRetriesAfterUnavailable(t *testing.T) {
	s, agent, _ := start(t)
	unavailable := status.Error(codes.Unavailable, "starting")
	agent.FailSetPodCidrs(unavailable, unavailable, unavailable)
	s.NodeChanged(node("node-a", "10.244.1.0/24", "10.244.1.0/24"))
	cidrs := []string{"10.244.1.0/24"}
	testagent.Eventually(t, wait5s, "a fourth SetPodCidrs after three UNAVAILABLE", callsEqual(agent, cidrs, cidrs, cidrs, cidrs))
	testagent.Eventually(t, wait5s, "success counted", func() bool { return s.Sent() == 1 })
	testagent.Never(t, 200*time.Millisecond, "SetPodCidrs called after success", func() bool { return len(agent.Calls()) != 4 })
}

// A refusal (the agent holds other CIDRs) needs an operator: retried at SlowRetry, not at the
// UNAVAILABLE backoff, and through once the operator fixed the agent.
func TestRefusalIsRetriedSlowly(t *testing.T) {
	s, agent, _ := start(t)
	agent.Refuse(status.Error(codes.FailedPrecondition, "pod CIDRs [10.1.0.0/24] already set; reset the state dir"))
	s.NodeChanged(node("node-a", "10.244.1.0/24", "10.244.1.0/24"))
	testagent.Eventually(t, wait5s, "the first SetPodCidrs", func() bool { return len(agent.Calls()) == 1 })
	testagent.Never(t, 250*time.Millisecond, "a refusal retried before SlowRetry", func() bool { return len(agent.Calls()) > 1 })
	testagent.Eventually(t, wait5s, "the slow retry", func() bool { return len(agent.Calls()) == 2 })
	agent.Refuse(nil)
	testagent.Eventually(t, wait5s, "success after the fix", func() bool { return s.Sent() == 1 })

	// Status lists other CIDRs while a refusal waits: no extra call before the slow retry.
	agent.Refuse(status.Error(codes.InvalidArgument, "10.244.1.0/24 overlaps the uplink"))
	s.AgentReconnected()
	testagent.Eventually(t, wait5s, "the call after reconnecting", func() bool { return len(agent.Calls()) == 4 })
	for n := 0; n < 5; n++ {
		s.AgentReports(nil)
	}
	testagent.Never(t, 250*time.Millisecond, "AgentReports bypassed the slow retry", func() bool { return len(agent.Calls()) > 4 })
}

// A restarted agent is sent the CIDRs again; one whose Status lists them is not.
func TestResendsToARestartedAgent(t *testing.T) {
	s, agent, _ := start(t)
	s.NodeChanged(node("node-a", "10.244.1.0/24", "10.244.1.0/24"))
	testagent.Eventually(t, wait5s, "the first send", func() bool { return s.Sent() == 1 })

	s.AgentReports([]string{"10.244.1.0/24"})
	s.AgentReports([]string{"10.244.1.0/24"})
	testagent.Never(t, 200*time.Millisecond, "sent again though the agent lists the CIDRs", func() bool { return len(agent.Calls()) > 1 })

	// Status failed, then answered: maybe a new process.
	s.AgentReconnected()
	testagent.Eventually(t, wait5s, "a send after reconnecting", func() bool { return s.Sent() == 2 })

	// The agent restarted between two polls and lost its state: it lists no CIDRs.
	s.AgentReports(nil)
	testagent.Eventually(t, wait5s, "a send after the agent lost its CIDRs", func() bool { return s.Sent() == 3 })
}

func TestSamePrefixes(t *testing.T) {
	if !samePrefixes([]string{"10.244.1.0/24", "10.244.2.0/24"}, []string{"10.244.2.0/24", "10.244.1.0/24"}) {
		t.Error("order counted")
	}
	if !samePrefixes([]string{"10.244.1.5/24"}, []string{"10.244.1.0/24"}) {
		t.Error("host bits counted")
	}
	if samePrefixes([]string{"10.244.1.0/24"}, []string{"10.244.1.0/25"}) {
		t.Error("different lengths equal")
	}
	if samePrefixes(nil, []string{"10.244.1.0/24"}) {
		t.Error("empty equals non-empty")
	}
}

// blockingClient answers SetPodCidrs only when the call's context ends.
type blockingClient struct{ calls chan struct{} }

func (c *blockingClient) SetPodCidrs(ctx context.Context, _ *dpcniv1.SetPodCidrsRequest, _ ...grpc.CallOption) (*dpcniv1.SetPodCidrsResponse, error) {
	select {
	case c.calls <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return nil, status.FromContextError(ctx.Err()).Err()
}

// Stopping while a call is in flight: Run returns (it used to retry at once, forever, and the
// process never stopped; the app's tests hung on it now and then).
func TestRunReturnsWhenStoppedDuringACall(t *testing.T) {
	client := &blockingClient{calls: make(chan struct{}, 1)}
	s := NewSender(client, "node-a", testOptions())
	s.NodeChanged(node("node-a", "10.244.1.0/24", "10.244.1.0/24"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	select {
	case <-client.calls:
	case <-time.After(wait5s):
		t.Fatal("no SetPodCidrs call")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(wait5s):
		t.Fatal("Run did not return after its context ended during a call")
	}
}
