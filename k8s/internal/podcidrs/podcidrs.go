// Package podcidrs hands the node's pod CIDRs, as Kubernetes allocated them on the Node object, to the
// agent (SetPodCidrs), and keeps them there across agent restarts.
package podcidrs

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"

	"dpcni.dev/k8s/internal/dpcniv1"
)

// Client is the part of the agent's API the sender uses.
type Client interface {
	SetPodCidrs(ctx context.Context, in *dpcniv1.SetPodCidrsRequest, opts ...grpc.CallOption) (*dpcniv1.SetPodCidrsResponse, error)
}

// Options tunes the retries; the zero value is not usable, start from DefaultOptions.
type Options struct {
	// CallTimeout bounds one SetPodCidrs call. The agent answers it only once it has set the node
	// up with the CIDRs (DPDK ports, restored pods), which may take a while on a loaded node; a
	// call cut short is answered OK on its retry, but the wait is better spent in the first one.
	CallTimeout time.Duration
	// Backoff paces retries while the agent cannot be reached (not started yet, restarting).
	Backoff wait.Backoff
	// SlowRetry paces retries the agent refused (different CIDRs already set, an invalid CIDR, an
	// agent without SetPodCidrs): they need an operator, but must succeed by themselves once fixed.
	SlowRetry time.Duration
	// RemindEvery repeats the error log of a refusal that does not change every so many retries.
	RemindEvery int
}

// DefaultOptions are the production settings.
func DefaultOptions() Options {
	return Options{
		CallTimeout: time.Minute,
		Backoff:     wait.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 1 << 30, Cap: 5 * time.Second},
		SlowRetry:   30 * time.Second,
		RemindEvery: 10,
	}
}

// Sender keeps the agent's pod CIDRs equal to the Node's IPv4 ones. Its inputs are the Node
// (NodeChanged, from the informer) and what the readiness poller learns of the agent
// (AgentReconnected, AgentReports); Run makes the calls.
type Sender struct {
	client Client
	node   string
	opts   Options
	wake   chan struct{}

	mu        sync.Mutex
	desired   []string  // the Node's IPv4 pod CIDRs; empty until it has some
	nodeState string    // what was last logged about the Node's CIDRs, to log changes only
	pending   bool      // desired is not known to be set in the agent that runs now
	notBefore time.Time // no call before this (the current retry delay)
	backoff   wait.Backoff
	failure   string // the last failure logged, to log changes only
	failures  int    // consecutive failures
	sent      int    // successful calls, for tests
}

// NewSender returns a sender for node.
func NewSender(client Client, node string, opts Options) *Sender {
	return &Sender{client: client, node: node, opts: opts, wake: make(chan struct{}, 1), backoff: opts.Backoff}
}

// NodeCIDRs returns the Node's pod CIDRs split by family: spec.podCIDRs, or the older single
// spec.podCIDR when only that is set. Entries that do not parse are returned apart.
func NodeCIDRs(node *corev1.Node) (ipv4, ipv6, invalid []string) {
	all := node.Spec.PodCIDRs
	if len(all) == 0 && node.Spec.PodCIDR != "" {
		all = []string{node.Spec.PodCIDR}
	}
	for _, cidr := range all {
		prefix, err := netip.ParsePrefix(cidr)
		switch {
		case err != nil:
			invalid = append(invalid, cidr)
		case prefix.Addr().Is4():
			ipv4 = append(ipv4, cidr)
		default:
			ipv6 = append(ipv6, cidr)
		}
	}
	return ipv4, ipv6, invalid
}

// NodeChanged takes the Node's current spec. A change of its IPv4 pod CIDRs is sent at once.
func (s *Sender) NodeChanged(node *corev1.Node) {
	ipv4, ipv6, invalid := NodeCIDRs(node)
	s.mu.Lock()
	defer s.mu.Unlock()

	state := fmt.Sprint(ipv4, ipv6, invalid)
	if state != s.nodeState {
		s.nodeState = state
		switch {
		case len(ipv4)+len(ipv6)+len(invalid) == 0:
			klog.InfoS("Node has no pod CIDR yet; the cluster must allocate one: run kube-controller-manager"+
				" with --allocate-node-cidrs=true and --cluster-cidr, or set spec.podCIDR(s) on the Node", "node", s.node)
		case len(ipv4) == 0:
			klog.InfoS("Node has no IPv4 pod CIDR; dpcni serves IPv4 only, so pods cannot be networked yet",
				"node", s.node, "ipv6PodCIDRs", ipv6, "invalidPodCIDRs", invalid)
		default:
			klog.InfoS("Node pod CIDRs", "node", s.node, "podCIDRs", ipv4)
		}
		if len(ipv6) > 0 && len(ipv4) > 0 {
			klog.InfoS("Skipping the Node's IPv6 pod CIDRs: not supported yet", "node", s.node, "ipv6PodCIDRs", ipv6)
		}
		if len(invalid) > 0 {
			klog.ErrorS(nil, "Skipping pod CIDRs that do not parse", "node", s.node, "invalidPodCIDRs", invalid)
		}
	}
	if slices.Equal(ipv4, s.desired) {
		return
	}
	// Kubernetes does not change a Node's podCIDRs once set; should the Node be re-created with other
	// ones, the agent refuses them (FAILED_PRECONDITION) until an operator resets it.
	s.desired = ipv4
	s.pending = len(ipv4) > 0
	s.retryNowLocked()
}

// AgentReconnected tells that the agent answers again after not answering (or for the first time):
// it may be a new process, so the CIDRs are sent again (the agent accepts the same ones).
func (s *Sender) AgentReconnected() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.desired) == 0 {
		return
	}
	s.pending = true
	s.retryNowLocked()
}

// AgentReports takes the pod CIDRs the agent's Status lists. When they differ from the Node's
// although they were sent (an agent that restarted between two polls and lost its state dir), the
// CIDRs are sent again, at the pace of the current retry delay.
func (s *Sender) AgentReports(cidrs []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.desired) == 0 || s.pending || samePrefixes(cidrs, s.desired) {
		return
	}
	klog.InfoS("Agent lists other pod CIDRs than the Node's; sending them again", "node", s.node,
		"agentPodCIDRs", cidrs, "podCIDRs", s.desired)
	s.pending = true
	s.kick()
}

// Sent returns how many SetPodCidrs calls succeeded.
func (s *Sender) Sent() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent
}

func (s *Sender) retryNowLocked() {
	s.notBefore = time.Time{}
	s.backoff = s.opts.Backoff
	s.kick()
}

func (s *Sender) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run sends until ctx ends.
func (s *Sender) Run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	// Checked on every turn: an attempt cut short by ctx leaves the call due, and the loop would
	// otherwise try again at once, forever, without reaching the select below.
	for ctx.Err() == nil {
		s.mu.Lock()
		cidrs, due := s.desired, s.pending && len(s.desired) > 0
		delay := time.Until(s.notBefore)
		s.mu.Unlock()

		if due && delay <= 0 {
			s.attempt(ctx, cidrs)
			continue
		}
		var fire <-chan time.Time
		if due {
			timer.Reset(delay)
			fire = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-fire:
		}
		// Since Go 1.23 (go.mod says 1.24) Stop and Reset leave no stale tick in timer.C.
		timer.Stop()
	}
}

func (s *Sender) attempt(ctx context.Context, cidrs []string) {
	callCtx, cancel := context.WithTimeout(ctx, s.opts.CallTimeout)
	_, err := s.client.SetPodCidrs(callCtx, &dpcniv1.SetPodCidrsRequest{PodCidrs: cidrs})
	cancel()
	if ctx.Err() != nil {
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		klog.InfoS("Agent accepted the Node's pod CIDRs", "node", s.node, "podCIDRs", cidrs)
		s.sent++
		// The Node may have changed while the call was in flight; then another call is due.
		s.pending = !slices.Equal(cidrs, s.desired)
		s.notBefore = time.Time{}
		s.backoff = s.opts.Backoff
		s.failure, s.failures = "", 0
		return
	}

	st := status.Convert(err)
	var delay time.Duration
	var key string
	switch st.Code() {
	case codes.FailedPrecondition, codes.InvalidArgument, codes.Unimplemented, codes.PermissionDenied, codes.AlreadyExists:
		delay = s.opts.SlowRetry
		key = st.Code().String() + ": " + st.Message()
		if key != s.failure || (s.opts.RemindEvery > 0 && s.failures%s.opts.RemindEvery == 0) {
			msg := "Agent refuses the Node's pod CIDRs; an operator must act"
			if st.Code() == codes.Unimplemented {
				msg = "Agent does not implement SetPodCidrs; run an agent image that has it"
			}
			klog.ErrorS(nil, msg, "node", s.node, "podCIDRs", cidrs, "code", st.Code().String(),
				"agentMessage", st.Message(), "retryIn", delay)
		}
	default:
		// UNAVAILABLE: the agent is not listening (yet) or stopping; DEADLINE_EXCEEDED: its set-up
		// outlasted CallTimeout.
		delay = s.backoff.Step()
		key = st.Code().String()
		if key != s.failure {
			klog.InfoS("SetPodCidrs did not go through; retrying with backoff", "node", s.node,
				"code", st.Code().String(), "error", st.Message())
		} else {
			klog.V(2).InfoS("SetPodCidrs retry failed", "code", st.Code().String(), "error", st.Message(), "retryIn", delay)
		}
	}
	s.failure = key
	s.failures++
	s.notBefore = time.Now().Add(delay)
}

// samePrefixes compares two CIDR lists as sets of networks, so that the agent's canonical spelling
// of a prefix does not count as a difference.
func samePrefixes(a, b []string) bool {
	canon := func(list []string) []string {
		out := make([]string, 0, len(list))
		for _, cidr := range list {
			if p, err := netip.ParsePrefix(cidr); err == nil {
				out = append(out, p.Masked().String())
			} else {
				out = append(out, strings.TrimSpace(cidr))
			}
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return slices.Equal(canon(a), canon(b))
}
