// dpcni-k8s is the Kubernetes side of dpcni on a node: it runs beside dpcni-agent in the agent's
// DaemonSet pod, hands the agent the Node's pod CIDRs, installs the CNI conflist once the agent is
// ready, and removes it when dpcni is uninstalled. It reaches the agent only through the gRPC API in
// proto/dpcni/v1/dpcni.proto.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"dpcni.dev/k8s/internal/agent"
	"dpcni.dev/k8s/internal/app"
	"dpcni.dev/k8s/internal/podcidrs"
	"dpcni.dev/k8s/internal/remotenodes"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stderr))
}

// options is the parsed command line and environment.
type options struct {
	app         app.Config
	kubeconfig  string
	agentSocket string
}

func parse(args []string, getenv func(string) string, output io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("dpcni-k8s", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.Usage = func() {
		fmt.Fprintf(output, `Usage: dpcni-k8s --cni-conf-source FILE [flags]

Runs beside dpcni-agent in its DaemonSet pod. Environment (the downward API):
  NODE_NAME      spec.nodeName: the Node whose pod CIDRs are sent to the agent
  POD_NAME       metadata.name, and
  POD_NAMESPACE  metadata.namespace: this pod, to find its DaemonSet when stopping

Flags:
`)
		fs.PrintDefaults()
	}
	// Of klog's flags only the verbosity ones: it logs to stderr, which the container runtime keeps.
	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(klogFlags)
	for _, name := range []string{"v", "vmodule"} {
		f := klogFlags.Lookup(name)
		fs.Var(f.Value, f.Name, f.Usage)
	}
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file to reach the API server with; empty: the pod's service account (in-cluster)")
	fs.StringVar(&o.agentSocket, "agent-socket", "/run/dpcni/dpcni.sock", "the agent's gRPC unix socket")
	fs.StringVar(&o.app.CNI.Source, "cni-conf-source", "", "the CNI conflist to install (required; the chart mounts it from a ConfigMap)")
	fs.StringVar(&o.app.CNI.Dir, "cni-conf-dir", "/etc/cni/net.d", "the container runtime's CNI configuration directory")
	fs.StringVar(&o.app.CNI.Name, "cni-conf-name", "10-dpcni.conflist", "file name of the installed conflist")
	fs.StringVar(&o.app.CNIBinDir, "cni-bin-dir", "/opt/cni/bin", "the CNI plugin directory, for --uninstall-remove-plugin")
	fs.BoolVar(&o.app.RemovePlugin, "uninstall-remove-plugin", false, "on uninstall, also remove the dpcni plugin binary from --cni-bin-dir")
	fs.StringVar(&o.app.HealthAddress, "health-address", "", "serve GET /healthz (liveness) on this host:port; empty: off")
	fs.DurationVar(&o.app.StatusPeriod, "status-period", time.Second, "how often to poll the agent's Status")
	fs.DurationVar(&o.app.StatusTimeout, "status-timeout", 2*time.Second, "deadline of one Status call")
	o.app.RemoteNodesOptions = remotenodes.DefaultOptions()
	fs.BoolVar(&o.app.RemoteNodes, "remote-nodes", true, "watch every Node and send the agent the other nodes' addresses and pod CIDRs (SetRemoteNodes), so that it routes to their pods; "+
		"needs list/watch on nodes cluster-wide. Off: the agent routes only what its configuration lists")
	fs.DurationVar(&o.app.RemoteNodesOptions.Resync, "remote-nodes-resync", o.app.RemoteNodesOptions.Resync, "send the whole remote node list again this often, even when no Node changed")
	fs.DurationVar(&o.app.RemoteNodesOptions.Coalesce, "remote-nodes-coalesce", o.app.RemoteNodesOptions.Coalesce, "wait this long after a Node change for more before sending the list")
	fs.DurationVar(&o.app.StopTimeout, "stop-timeout", 10*time.Second, "bound on the uninstall decision when stopping; keep it well under the pod's grace period")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	var missing []string
	for _, env := range []struct {
		name, field string
		into        *string
	}{
		{"NODE_NAME", "spec.nodeName", &o.app.NodeName},
		{"POD_NAME", "metadata.name", &o.app.PodName},
		{"POD_NAMESPACE", "metadata.namespace", &o.app.PodNamespace},
	} {
		*env.into = getenv(env.name)
		if *env.into == "" {
			missing = append(missing, fmt.Sprintf("%s (fieldRef %s)", env.name, env.field))
		}
	}
	if len(missing) > 0 {
		return o, fmt.Errorf("missing environment %s; set each from the downward API (env[].valueFrom.fieldRef) in the DaemonSet's container", strings.Join(missing, ", "))
	}
	if o.app.CNI.Source == "" {
		return o, errors.New("--cni-conf-source is required: the conflist to install once the agent is ready")
	}
	if o.app.CNI.Name != filepath.Base(o.app.CNI.Name) || !strings.HasSuffix(o.app.CNI.Name, ".conflist") {
		// libcni reads a ".conf" or ".json" file as a single plugin's configuration, not a list.
		return o, fmt.Errorf("--cni-conf-name %q must be a file name ending in .conflist", o.app.CNI.Name)
	}
	if o.app.StatusPeriod <= 0 || o.app.StatusTimeout <= 0 || o.app.StopTimeout <= 0 {
		return o, errors.New("--status-period, --status-timeout and --stop-timeout must be positive")
	}
	if o.app.RemoteNodesOptions.Resync <= 0 || o.app.RemoteNodesOptions.Coalesce < 0 {
		return o, errors.New("--remote-nodes-resync must be positive and --remote-nodes-coalesce not negative")
	}
	o.app.PodCidrs = podcidrs.DefaultOptions()
	return o, nil
}

func run(args []string, getenv func(string) string, stderr io.Writer) int {
	o, err := parse(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "dpcni-k8s: %v\n", err)
		return 2
	}
	defer klog.Flush()

	var config *rest.Config
	if o.kubeconfig != "" {
		config, err = clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	} else {
		config, err = rest.InClusterConfig()
	}
	if err != nil {
		klog.ErrorS(err, "Cannot configure the Kubernetes client (in a pod: the service account token; outside: --kubeconfig)")
		return 1
	}
	config.UserAgent = "dpcni-k8s"
	kube, err := kubernetes.NewForConfig(config)
	if err != nil {
		klog.ErrorS(err, "Cannot create the Kubernetes client")
		return 1
	}
	client, closeAgent, err := agent.Dial(o.agentSocket)
	if err != nil {
		klog.ErrorS(err, "Cannot set up the agent client")
		return 1
	}
	defer closeAgent()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	klog.InfoS("Starting", "node", o.app.NodeName, "pod", klog.KRef(o.app.PodNamespace, o.app.PodName),
		"agentSocket", o.agentSocket, "cniConf", o.app.CNI.Path())
	if err := app.Run(ctx, o.app, kube, client); err != nil {
		klog.ErrorS(err, "Stopped with an error")
		return 1
	}
	return 0
}
