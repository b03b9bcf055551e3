// Package remotenodes keeps the agent's list of the cluster's other nodes (SetRemoteNodes) equal to
// the Node objects: each node's data-plane address and IPv4 pod CIDRs, from which the agent routes
// pods on other nodes (host-gw, VXLAN or kernel routes). It tells the agent when the API server is
// lost (ReportRouteSource) instead of sending a shorter list, so the routes stay while it is away.
package remotenodes

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
	"dpcni.dev/k8s/internal/podcidrs"
)

// DataAddressAnnotation names a node's address on a separate data network (IPv4). Without it the
// node's first IPv4 InternalIP is used.
const DataAddressAnnotation = "dpcni.dev/data-address"

// Client is the part of the agent's API the syncer uses.
type Client interface {
	SetRemoteNodes(ctx context.Context, in *dpcniv1.SetRemoteNodesRequest, opts ...grpc.CallOption) (*dpcniv1.SetRemoteNodesResponse, error)
	ReportRouteSource(ctx context.Context, in *dpcniv1.ReportRouteSourceRequest, opts ...grpc.CallOption) (*dpcniv1.ReportRouteSourceResponse, error)
}

// Options tunes the syncer; start from DefaultOptions.
type Options struct {
	// Coalesce is how long a Node change waits for more before the list is sent: a rollout that
	// relabels or re-registers many Nodes makes one call, not one per Node.
	Coalesce time.Duration
	// Resync sends the whole list again this often even when nothing changed, a safety net for an
	// agent that lost it in a way Status did not show.
	Resync time.Duration
	// CallTimeout bounds one call.
	CallTimeout time.Duration
	// Backoff paces retries while the agent cannot be reached.
	Backoff wait.Backoff
	// RefusedBackoff paces retries of a list the agent refused (INVALID_ARGUMENT naming a node, an
	// agent without the RPC): they need someone to fix a Node or the agent, and must go through by
	// themselves once that is done.
	RefusedBackoff wait.Backoff
}

// DefaultOptions are the production settings.
func DefaultOptions() Options {
	return Options{
		Coalesce:       200 * time.Millisecond,
		Resync:         5 * time.Minute,
		CallTimeout:    30 * time.Second,
		Backoff:        wait.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 1 << 30, Cap: 5 * time.Second},
		RefusedBackoff: wait.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.1, Steps: 1 << 30, Cap: time.Minute},
	}
}

// Remote is one other node as the agent gets it.
type Remote struct {
	Name     string
	Address  string
	PodCidrs []string
}

// Describe turns one Node into its entry. ok is false when the node cannot be routed to (no
// address, no IPv4 pod CIDR); skip then says why. note, when not empty, says what was ignored on
// the way (an annotation that is no IPv4 address, IPv6 pod CIDRs).
func Describe(node *corev1.Node) (r Remote, ok bool, skip, note string) {
	r.Name = node.Name
	var notes []string
	if value, set := node.Annotations[DataAddressAnnotation]; set {
		if a, err := netip.ParseAddr(strings.TrimSpace(value)); err == nil && a.Is4() && usable(a) {
			r.Address = a.String()
		} else {
			notes = append(notes, fmt.Sprintf("annotation %s=%q is not a usable IPv4 address; using the InternalIP", DataAddressAnnotation, value))
		}
	}
	if r.Address == "" {
		for _, addr := range node.Status.Addresses {
			if addr.Type != corev1.NodeInternalIP {
				continue
			}
			if a, err := netip.ParseAddr(addr.Address); err == nil && a.Is4() && usable(a) {
				r.Address = a.String()
				break
			}
		}
	}
	ipv4, ipv6, invalid := podcidrs.NodeCIDRs(node)
	if len(ipv6) > 0 {
		notes = append(notes, fmt.Sprintf("IPv6 pod CIDRs %v left out (IPv4 only)", ipv6))
	}
	if len(invalid) > 0 {
		notes = append(notes, fmt.Sprintf("pod CIDRs %v do not parse", invalid))
	}
	for _, cidr := range ipv4 {
		// The agent wants the network, not an address in it.
		r.PodCidrs = append(r.PodCidrs, netip.MustParsePrefix(cidr).Masked().String())
	}
	note = strings.Join(notes, "; ")
	switch {
	case r.Address == "" && len(r.PodCidrs) == 0:
		return r, false, "no IPv4 address (InternalIP or " + DataAddressAnnotation + ") and no IPv4 pod CIDR", note
	case r.Address == "":
		return r, false, "no IPv4 address: no InternalIP in status.addresses and no " + DataAddressAnnotation + " annotation", note
	case len(r.PodCidrs) == 0:
		return r, false, "no IPv4 pod CIDR yet (kube-controller-manager --allocate-node-cidrs)", note
	}
	return r, true, "", note
}

func usable(a netip.Addr) bool {
	return !a.IsUnspecified() && !a.IsLoopback() && !a.IsMulticast() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// Syncer sends the list. Its inputs are the Node informer (Changed, Synced, WatchFailed,
// WatchRecovered, from Watch) and what the readiness poller learns of the agent (AgentReconnected,
// AgentStatus); Run makes the calls, one at a time.
type Syncer struct {
	client Client
	own    string
	opts   Options
	wake   chan struct{}
	nodes  func() []*corev1.Node // the informer's store

	mu          sync.Mutex
	agentReady  bool      // the agent holds pod CIDRs: it has set the node up
	synced      bool      // the informer has listed the Nodes once
	dirty       time.Time // a Node changed at this time (zero: none since the last compute)
	force       bool      // send even when the list equals the last one sent
	stale       string    // the watch failed and has not recovered: why (empty: it is fine)
	reportDue   bool      // the agent must be told about the stale source
	sent        []Remote  // the last list the agent accepted
	sentOnce    bool
	notBefore   time.Time // no call before this
	backoff     wait.Backoff
	refused     wait.Backoff
	failure     string            // the last failure logged, to log changes only
	logged      map[string]string // node name -> what was last logged about it
	calls       int               // successful SetRemoteNodes, for tests
	reportCalls int               // successful ReportRouteSource, for tests
}

// New returns a syncer for the node named own (left out of the list).
func New(client Client, own string, opts Options) *Syncer {
	return &Syncer{client: client, own: own, opts: opts, wake: make(chan struct{}, 1),
		backoff: opts.Backoff, refused: opts.RefusedBackoff, logged: map[string]string{},
		nodes: func() []*corev1.Node { return nil }}
}

// Changed tells that a Node was added, updated or deleted.
func (s *Syncer) Changed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dirty.IsZero() {
		s.dirty = time.Now()
	}
	s.kick()
}

// Synced tells that the informer has listed every Node: before, a list would be partial, and the
// agent would withdraw the routes of the nodes not seen yet.
func (s *Syncer) Synced() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.synced = true
	s.kick()
}

// WatchFailed tells that listing or watching Nodes failed. The first failure of an outage is
// reported to the agent; the list is not sent while it lasts, so the agent keeps its routes.
func (s *Syncer) WatchFailed(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stale != "" {
		klog.V(2).InfoS("Watching Nodes still fails", "error", err)
		return
	}
	s.stale = "watch nodes: " + err.Error()
	klog.ErrorS(err, "Lost the Node watch; the agent keeps routing the last node list until it is back")
	s.reportDue = true
	s.notBefore = time.Time{}
	s.kick()
}

// WatchRecovered tells that a list or watch of Nodes went through again. The next list sent makes
// the agent's route source "in-sync" again; it is sent even if nothing changed meanwhile.
func (s *Syncer) WatchRecovered() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stale == "" {
		return
	}
	klog.InfoS("Node watch is back; sending the node list again")
	s.stale, s.reportDue, s.force = "", false, true
	if s.dirty.IsZero() {
		// Let the relist reach the store first: its events come within the coalescing window.
		s.dirty = time.Now()
	}
	s.notBefore = time.Time{}
	s.kick()
}

// AgentReconnected tells that the agent answers again after not answering (or for the first time):
// it may be a new process, so it gets the whole list again (and the stale report, if one stands).
func (s *Syncer) AgentReconnected() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.force = true
	if s.stale != "" {
		s.reportDue = true
	}
	s.resetRetryLocked()
}

// AgentStatus takes the agent's Status. The list is sent only once the agent holds pod CIDRs (it
// has set the node up); an agent that says it has no list although one was accepted (its state dir
// was reset) gets it again.
func (s *Syncer) AgentStatus(resp *dpcniv1.StatusResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// An agent without pod CIDRs is a new one that has not set the node up yet (podcidrs sends them
	// within moments): wait for it rather than have the list refused and retried later.
	if ready := len(resp.GetPodCidrs()) > 0; ready != s.agentReady {
		s.agentReady = ready
		if ready {
			s.force = true
			s.resetRetryLocked()
		}
	}
	if s.sentOnce && !s.force && resp.GetRouteSync().GetState() == "unset" {
		klog.InfoS("Agent holds no node list although it accepted one; sending it again")
		s.force = true
		s.kick()
	}
}

// Calls returns how many SetRemoteNodes calls succeeded.
func (s *Syncer) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func (s *Syncer) resetRetryLocked() {
	s.notBefore = time.Time{}
	s.backoff = s.opts.Backoff
	s.refused = s.opts.RefusedBackoff
	s.kick()
}

func (s *Syncer) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

type action int

const (
	wait_ action = iota
	report
	send
)

// next decides what Run does now, or how long it may wait before deciding again (0: until woken).
func (s *Syncer) next() (action, time.Duration, []Remote) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.agentReady {
		return wait_, 0, nil
	}
	if d := time.Until(s.notBefore); d > 0 && (s.reportDue || s.stale == "") {
		return wait_, d, nil
	}
	if s.reportDue {
		return report, 0, nil
	}
	if s.stale != "" || !s.synced {
		return wait_, 0, nil
	}
	if !s.dirty.IsZero() {
		if d := time.Until(s.dirty.Add(s.opts.Coalesce)); d > 0 {
			return wait_, d, nil
		}
	}
	list := s.computeLocked()
	s.dirty = time.Time{}
	if s.force || !s.sentOnce || !slices.EqualFunc(list, s.sent, equalRemote) {
		return send, 0, list
	}
	return wait_, 0, nil
}

func equalRemote(a, b Remote) bool {
	return a.Name == b.Name && a.Address == b.Address && slices.Equal(a.PodCidrs, b.PodCidrs)
}

// computeLocked builds the sorted list from the store and logs, once per change, the nodes left
// out and what was ignored.
func (s *Syncer) computeLocked() []Remote {
	list := []Remote{}
	seen := map[string]bool{}
	for _, node := range s.nodes() {
		if node.Name == s.own {
			continue
		}
		seen[node.Name] = true
		r, ok, skip, note := Describe(node)
		said := note
		if !ok {
			said = "skip: " + skip + "; " + note
		}
		if said != s.logged[node.Name] {
			switch {
			case !ok:
				klog.InfoS("Leaving a node out of the remote node list: the agent cannot route to it yet",
					"node", node.Name, "reason", skip, "note", note)
			case note != "":
				klog.InfoS("Remote node", "node", node.Name, "address", r.Address, "podCIDRs", r.PodCidrs, "note", note)
			case s.logged[node.Name] != "":
				klog.InfoS("Remote node can be routed", "node", node.Name, "address", r.Address, "podCIDRs", r.PodCidrs)
			}
			if said == "" {
				delete(s.logged, node.Name)
			} else {
				s.logged[node.Name] = said
			}
		}
		if ok {
			list = append(list, r)
		}
	}
	for name := range s.logged {
		if !seen[name] {
			delete(s.logged, name)
		}
	}
	slices.SortFunc(list, func(a, b Remote) int { return strings.Compare(a.Name, b.Name) })
	return list
}

// Run makes the calls until ctx ends.
func (s *Syncer) Run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	resync := time.NewTicker(s.opts.Resync)
	defer resync.Stop()
	for ctx.Err() == nil {
		act, delay, list := s.next()
		switch act {
		case report:
			s.report(ctx)
			continue
		case send:
			s.send(ctx, list)
			continue
		}
		var fire <-chan time.Time
		if delay > 0 {
			timer.Reset(delay)
			fire = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-fire:
		case <-resync.C:
			s.mu.Lock()
			s.force = true
			s.mu.Unlock()
		}
		// Since Go 1.23 Stop and Reset leave no stale tick in timer.C.
		timer.Stop()
	}
}

func (s *Syncer) report(ctx context.Context) {
	s.mu.Lock()
	msg := s.stale
	s.mu.Unlock()
	callCtx, cancel := context.WithTimeout(ctx, s.opts.CallTimeout)
	_, err := s.client.ReportRouteSource(callCtx, &dpcniv1.ReportRouteSourceRequest{InSync: false, Message: msg})
	cancel()
	if ctx.Err() != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil || status.Code(err) == codes.Unimplemented {
		if err != nil {
			klog.ErrorS(nil, "Agent does not implement ReportRouteSource; its Status will not say the node list is stale")
		} else {
			klog.InfoS("Told the agent its node list is stale", "reason", msg)
			s.reportCalls++
		}
		// Only the report of the outage that still lasts is done.
		if s.stale == msg {
			s.reportDue = false
		}
		s.notBefore = time.Time{}
		s.backoff = s.opts.Backoff
		return
	}
	s.failedLocked("ReportRouteSource", err, nil)
}

func (s *Syncer) send(ctx context.Context, list []Remote) {
	req := &dpcniv1.SetRemoteNodesRequest{Nodes: make([]*dpcniv1.RemoteNode, 0, len(list))}
	for _, r := range list {
		req.Nodes = append(req.Nodes, &dpcniv1.RemoteNode{Name: r.Name, Address: r.Address, PodCidrs: r.PodCidrs})
	}
	s.mu.Lock()
	s.force = false
	s.mu.Unlock()
	callCtx, cancel := context.WithTimeout(ctx, s.opts.CallTimeout)
	resp, err := s.client.SetRemoteNodes(callCtx, req)
	cancel()
	if ctx.Err() != nil {
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		// One line per change; the same list again (a resync, a reconnect) only with -v=2.
		if !s.sentOnce || !slices.EqualFunc(list, s.sent, equalRemote) {
			klog.InfoS("Agent routes the remote nodes", "nodes", resp.GetNodes(), "prefixes", resp.GetPrefixes(),
				"list", len(list))
		}
		klog.V(2).InfoS("Remote node list accepted", "list", list)
		s.sent, s.sentOnce = list, true
		s.calls++
		s.notBefore = time.Time{}
		s.backoff, s.refused = s.opts.Backoff, s.opts.RefusedBackoff
		s.failure = ""
		return
	}
	// Sent again once the delay is over, whether or not the Nodes changed meanwhile.
	s.force = true
	s.failedLocked("SetRemoteNodes", err, list)
}

func (s *Syncer) failedLocked(call string, err error, list []Remote) {
	st := status.Convert(err)
	var delay time.Duration
	switch st.Code() {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.Unimplemented, codes.PermissionDenied:
		delay = s.refused.Step()
		key := call + " " + st.Code().String() + ": " + st.Message()
		if key != s.failure {
			msg := "Agent refuses the remote node list; fix the Node it names (address, pod CIDRs) or the agent's remote_nodes configuration"
			if st.Code() == codes.Unimplemented {
				msg = "Agent does not implement " + call + "; run an agent image that has it"
			}
			klog.ErrorS(nil, msg, "call", call, "code", st.Code().String(), "agentMessage", st.Message(),
				"nodes", len(list), "retryIn", delay)
		}
		s.failure = key
	default:
		delay = s.backoff.Step()
		key := call + " " + st.Code().String()
		if key != s.failure {
			klog.InfoS("Call to the agent did not go through; retrying with backoff", "call", call,
				"code", st.Code().String(), "error", st.Message())
		} else {
			klog.V(2).InfoS("Retry failed", "call", call, "code", st.Code().String(), "error", st.Message(), "retryIn", delay)
		}
		s.failure = key
	}
	s.notBefore = time.Now().Add(delay)
}
