// Package app wires dpcni-k8s together: the Node informer feeding SetPodCidrs, the readiness gate
// installing the CNI conflist, the informer on every Node feeding SetRemoteNodes, the optional health endpoint, and the uninstall decision on stop.
package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"dpcni.dev/k8s/internal/cniconf"
	"dpcni.dev/k8s/internal/dpcniv1"
	"dpcni.dev/k8s/internal/podcidrs"
	"dpcni.dev/k8s/internal/readiness"
	"dpcni.dev/k8s/internal/remotenodes"
	"dpcni.dev/k8s/internal/uninstall"
)

// Config is everything Run needs besides its two clients.
type Config struct {
	NodeName     string
	PodNamespace string
	PodName      string

	CNI           cniconf.Installer
	CNIBinDir     string
	RemovePlugin  bool // on uninstall, also remove CNIBinDir/dpcni
	StatusPeriod  time.Duration
	StatusTimeout time.Duration
	PodCidrs      podcidrs.Options
	// RemoteNodes, when set, watches every Node and keeps the agent's remote node list (routes to
	// the pods of other nodes) in step with them.
	RemoteNodes        bool
	RemoteNodesOptions remotenodes.Options
	// StopTimeout bounds the uninstall decision; the pod's grace period (30 s by default) must be
	// longer.
	StopTimeout time.Duration
	// HealthAddress serves GET /healthz when not empty.
	HealthAddress string
}

// Run works until ctx ends (SIGTERM), then decides between uninstall and restart, acts, and
// returns. The error reports a failed start or a failed removal.
func Run(ctx context.Context, cfg Config, kube kubernetes.Interface, agent dpcniv1.AgentClient) error {
	var health net.Listener
	if cfg.HealthAddress != "" {
		l, err := net.Listen("tcp", cfg.HealthAddress)
		if err != nil {
			return fmt.Errorf("--health-address: %w", err)
		}
		health = l
	}

	sender := podcidrs.NewSender(agent, cfg.NodeName, cfg.PodCidrs)
	hooks := readiness.Hooks{Reconnected: sender.AgentReconnected, Reported: sender.AgentReports}
	var remote *remotenodes.Syncer
	if cfg.RemoteNodes {
		// The syncer sends nothing until the agent's Status lists pod CIDRs: the agent sets the
		// node up (ports, its own routes) only once it has them.
		remote = remotenodes.New(agent, cfg.NodeName, cfg.RemoteNodesOptions)
		hooks.Reconnected = func() {
			sender.AgentReconnected()
			remote.AgentReconnected()
		}
		hooks.Answered = remote.AgentStatus
	}
	gate := readiness.New(agent, cfg.CNI, cfg.StatusPeriod, cfg.StatusTimeout, hooks)
	decider := &uninstall.Decider{Client: kube, Namespace: cfg.PodNamespace, Name: cfg.PodName}

	// The workers get their own context: on SIGTERM they must have stopped before the conflist is
	// removed, or the gate could put it back.
	workCtx, stopWork := context.WithCancel(context.Background())
	defer stopWork()
	var wg sync.WaitGroup
	spawn := func(f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f()
		}()
	}
	spawn(func() { sender.Run(workCtx) })
	spawn(func() { gate.Run(workCtx) })
	spawn(func() { podcidrs.WatchNode(workCtx, kube, cfg.NodeName, sender) })
	if remote != nil {
		spawn(func() { remote.Run(workCtx) })
		spawn(func() { remotenodes.Watch(workCtx, kube, remote) })
	}
	spawn(func() {
		primeCtx, cancel := context.WithTimeout(workCtx, 10*time.Second)
		defer cancel()
		decider.Prime(primeCtx)
		cancel()
		decider.Watch(workCtx)
	})

	var server *http.Server
	if health != nil {
		// Liveness only: the poll loop turns. It does not depend on the agent or the API server, so
		// that neither being down makes kubelet restart this container for nothing.
		maxAge := 3 * (cfg.StatusPeriod + cfg.StatusTimeout)
		mux := http.NewServeMux()
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
			if !gate.Alive(maxAge) {
				http.Error(w, "the agent poll loop is stuck", http.StatusInternalServerError)
				return
			}
			fmt.Fprintln(w, "ok")
		})
		server = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		spawn(func() {
			if err := server.Serve(health); err != nil && !errors.Is(err, http.ErrServerClosed) {
				klog.ErrorS(err, "Health endpoint stopped", "address", cfg.HealthAddress)
			}
		})
		klog.InfoS("Serving /healthz", "address", health.Addr().String())
	}

	<-ctx.Done()
	klog.InfoS("Stopping: deciding between uninstall and restart")
	stopWork()
	if server != nil {
		server.Close()
	}
	wg.Wait()

	stopCtx, cancel := context.WithTimeout(context.Background(), cfg.StopTimeout)
	defer cancel()
	decision := decider.Decide(stopCtx)
	if !decision.Uninstall {
		klog.InfoS("Keeping the CNI conflist and plugin", "reason", decision.Reason, "path", cfg.CNI.Path())
		return nil
	}
	klog.InfoS("Uninstalling from the node", "reason", decision.Reason)
	var errs []error
	if removed, err := cfg.CNI.Remove(); err != nil {
		errs = append(errs, fmt.Errorf("removing the CNI conflist: %w", err))
	} else if removed {
		klog.InfoS("Removed the CNI conflist", "path", cfg.CNI.Path())
	}
	if cfg.RemovePlugin {
		if removed, err := cniconf.RemovePlugin(cfg.CNIBinDir); err != nil {
			errs = append(errs, fmt.Errorf("removing the CNI plugin: %w", err))
		} else if removed {
			klog.InfoS("Removed the CNI plugin", "dir", cfg.CNIBinDir, "name", cniconf.PluginBinary)
		}
	}
	return errors.Join(errs...)
}
