// Package readiness polls the agent's Status and installs the CNI conflist once the agent is ready:
// the gate that lets kubelet turn the Node Ready only when the dataplane serves.
package readiness

import (
	"context"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"

	"dpcni.dev/k8s/internal/cniconf"
	"dpcni.dev/k8s/internal/dpcniv1"
)

// Client is the part of the agent's API the gate uses.
type Client interface {
	Status(ctx context.Context, in *dpcniv1.StatusRequest, opts ...grpc.CallOption) (*dpcniv1.StatusResponse, error)
}

// Hooks tell others what the polls learn.
type Hooks struct {
	// Reconnected runs when Status answers after failing, and on the first answer.
	Reconnected func()
	// Reported runs on every answer with the pod CIDRs the agent lists.
	Reported func(podCidrs []string)
	// Answered runs on every answer with the whole Status.
	Answered func(resp *dpcniv1.StatusResponse)
}

// Gate polls Status every Interval (each call bounded by Timeout) and installs the conflist while
// the agent reports ready. It never removes the conflist: an agent that restarts or fails for a
// moment must not turn the node NotReady and get its pods evicted; pods added meanwhile get a CNI
// error that kubelet retries.
type Gate struct {
	client    Client
	installer cniconf.Installer
	interval  time.Duration
	timeout   time.Duration
	hooks     Hooks

	// What was last logged, so that each state change makes one line.
	state      string
	message    string
	installErr string

	lastPoll atomic.Int64 // unix nanoseconds of the last finished poll
}

// New returns a gate; interval and timeout are the poll period and the Status deadline.
func New(client Client, installer cniconf.Installer, interval, timeout time.Duration, hooks Hooks) *Gate {
	g := &Gate{client: client, installer: installer, interval: interval, timeout: timeout, hooks: hooks}
	g.lastPoll.Store(time.Now().UnixNano())
	return g
}

// Run polls until ctx ends.
func (g *Gate) Run(ctx context.Context) {
	ticker := time.NewTicker(g.interval)
	defer ticker.Stop()
	for {
		g.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// Alive reports whether the poll loop finished a poll within maxAge: the liveness of this process.
func (g *Gate) Alive(maxAge time.Duration) bool {
	return time.Since(time.Unix(0, g.lastPoll.Load())) <= maxAge
}

func (g *Gate) poll(ctx context.Context) {
	defer func() { g.lastPoll.Store(time.Now().UnixNano()) }()
	callCtx, cancel := context.WithTimeout(ctx, g.timeout)
	resp, err := g.client.Status(callCtx, &dpcniv1.StatusRequest{})
	cancel()
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		if g.state != "unreachable" {
			st := status.Convert(err)
			klog.InfoS("Agent not answering Status; the CNI conflist stays as it is",
				"code", st.Code().String(), "error", st.Message())
			g.state = "unreachable"
		}
		return
	}
	if (g.state == "" || g.state == "unreachable") && g.hooks.Reconnected != nil {
		g.hooks.Reconnected()
	}
	if g.hooks.Reported != nil {
		g.hooks.Reported(resp.GetPodCidrs())
	}
	if g.hooks.Answered != nil {
		g.hooks.Answered(resp)
	}
	ready, message := resp.GetReady(), resp.GetMessage()
	if ready && len(resp.GetPodCidrs()) == 0 {
		// An agent without pod CIDRs has no address to give a pod; whatever its Status says, pods
		// sent to it would only fail.
		ready, message = false, "ready, but holds no pod CIDRs yet"
	}
	if !ready {
		if g.state != "not ready" || g.message != message {
			klog.InfoS("Agent not ready; waiting before installing the CNI conflist", "message", message)
		}
		g.state, g.message = "not ready", message
		return
	}
	if g.state != "ready" {
		klog.InfoS("Agent ready", "message", resp.GetMessage(), "podCIDRs", resp.GetPodCidrs())
	}
	g.state, g.message = "ready", resp.GetMessage()

	changed, err := g.installer.Install()
	if err != nil {
		if err.Error() != g.installErr {
			klog.ErrorS(err, "Cannot install the CNI conflist; the node stays NotReady", "path", g.installer.Path())
			g.installErr = err.Error()
		}
		return
	}
	if g.installErr != "" {
		klog.InfoS("CNI conflist can be installed again", "path", g.installer.Path())
		g.installErr = ""
	}
	if changed {
		klog.InfoS("Installed the CNI conflist", "path", g.installer.Path(), "source", g.installer.Source)
	}
}
