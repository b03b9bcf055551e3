package app

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"

	"dpcni.dev/k8s/internal/cniconf"
	"dpcni.dev/k8s/internal/podcidrs"
	"dpcni.dev/k8s/internal/remotenodes"
	"dpcni.dev/k8s/internal/testagent"
)

const (
	ns       = "kube-system"
	podName  = "dpcni-x7k2p"
	conflist = `{"cniVersion":"1.0.0","name":"dpcni","plugins":[{"type":"dpcni"}]}`
)

type fixture struct {
	client *fake.Clientset
	agent  *testagent.Agent
	server *testagent.Server
	socket string
	cfg    Config
	stop   context.CancelFunc
	done   chan error
}

func start(t *testing.T, mutate func(*Config)) *fixture {
	t.Helper()
	yes := true
	f := &fixture{
		client: fake.NewClientset(
			&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}},
			&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: podName, Namespace: ns, OwnerReferences: []metav1.OwnerReference{
				{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "dpcni", UID: "uid-1", Controller: &yes}}}},
			&appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "dpcni", Namespace: ns, UID: "uid-1"}},
		),
		agent:  testagent.New(),
		socket: testagent.Socket(t),
		done:   make(chan error, 1),
	}
	f.server = testagent.Serve(t, f.socket, f.agent)
	dir := t.TempDir()
	source := filepath.Join(dir, "source.conflist")
	if err := os.WriteFile(source, []byte(conflist), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, cniconf.PluginBinary), []byte("ELF"), 0o755); err != nil {
		t.Fatal(err)
	}
	f.cfg = Config{
		NodeName: "node-a", PodNamespace: ns, PodName: podName,
		CNI:           cniconf.Installer{Source: source, Dir: filepath.Join(dir, "net.d"), Name: "10-dpcni.conflist"},
		CNIBinDir:     bin,
		StatusPeriod:  20 * time.Millisecond,
		StatusTimeout: time.Second,
		PodCidrs: podcidrs.Options{
			CallTimeout: time.Second,
			Backoff:     wait.Backoff{Duration: 10 * time.Millisecond, Factor: 2, Steps: 1 << 30, Cap: 50 * time.Millisecond},
			SlowRetry:   time.Second,
		},
		StopTimeout: 5 * time.Second,
	}
	if mutate != nil {
		mutate(&f.cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.stop = cancel
	client := testagent.Client(t, f.socket)
	go func() { f.done <- Run(ctx, f.cfg, f.client, client) }()
	t.Cleanup(func() {
		cancel()
		<-f.done
	})
	return f
}

// ready gives the Node its CIDR, waits for the agent to get it, turns the agent ready and waits
// for the conflist.
func (f *fixture) ready(t *testing.T) {
	t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}, Spec: corev1.NodeSpec{PodCIDR: "10.244.1.0/24", PodCIDRs: []string{"10.244.1.0/24"}}}
	if _, err := f.client.CoreV1().Nodes().Update(context.Background(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	testagent.Eventually(t, 5*time.Second, "the agent's pod CIDRs", func() bool {
		return slices.Equal(f.agent.PodCidrs(), []string{"10.244.1.0/24"})
	})
	if exists(f.cfg.CNI.Path()) {
		t.Fatal("conflist installed before the agent was ready")
	}
	f.agent.SetReady(true, "serving")
	testagent.Eventually(t, 5*time.Second, "the conflist", func() bool { return exists(f.cfg.CNI.Path()) })
}

// sigterm ends Run as SIGTERM does and returns its error; it must come well within the grace period.
func (f *fixture) sigterm(t *testing.T) error {
	t.Helper()
	f.stop()
	select {
	case err := <-f.done:
		f.done <- err // for the cleanup
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10 s of SIGTERM")
		return nil
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func TestRestartOrUpgradeKeepsTheConflistAndPlugin(t *testing.T) {
	f := start(t, func(c *Config) { c.RemovePlugin = true })
	f.ready(t)
	if err := f.sigterm(t); err != nil {
		t.Fatal(err)
	}
	if !exists(f.cfg.CNI.Path()) || !exists(filepath.Join(f.cfg.CNIBinDir, cniconf.PluginBinary)) {
		t.Fatal("conflist or plugin removed although the DaemonSet is in place")
	}
}

func TestUninstallRemovesTheConflist(t *testing.T) {
	f := start(t, nil)
	f.ready(t)
	if err := f.client.AppsV1().DaemonSets(ns).Delete(context.Background(), "dpcni", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.sigterm(t); err != nil {
		t.Fatal(err)
	}
	if exists(f.cfg.CNI.Path()) {
		t.Fatal("conflist left after uninstall")
	}
	if !exists(filepath.Join(f.cfg.CNIBinDir, cniconf.PluginBinary)) {
		t.Fatal("plugin removed without --uninstall-remove-plugin")
	}
}

func TestUninstallWhileTheDaemonSetIsDeletedRemovesThePluginWhenAsked(t *testing.T) {
	f := start(t, func(c *Config) { c.RemovePlugin = true })
	f.ready(t)
	ds, err := f.client.AppsV1().DaemonSets(ns).Get(context.Background(), "dpcni", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	ds.DeletionTimestamp = &now
	if _, err := f.client.AppsV1().DaemonSets(ns).Update(context.Background(), ds, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.sigterm(t); err != nil {
		t.Fatal(err)
	}
	if exists(f.cfg.CNI.Path()) || exists(filepath.Join(f.cfg.CNIBinDir, cniconf.PluginBinary)) {
		t.Fatal("conflist or plugin left after uninstall")
	}
}

// With --remote-nodes the other Nodes reach the agent once it holds its pod CIDRs, and a restarted
// agent gets them again (the Status poll sees it reconnect, or list no node list).
func TestRemoteNodesReachTheAgentOnceItHasItsPodCidrs(t *testing.T) {
	f := start(t, func(c *Config) {
		c.RemoteNodes = true
		c.RemoteNodesOptions = remotenodes.DefaultOptions()
		c.RemoteNodesOptions.Coalesce = 10 * time.Millisecond
		c.RemoteNodesOptions.Backoff = c.PodCidrs.Backoff
	})
	nodeB := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-b"},
		Spec:   corev1.NodeSpec{PodCIDR: "10.244.2.0/24", PodCIDRs: []string{"10.244.2.0/24"}},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.1.2"}}}}
	if _, err := f.client.CoreV1().Nodes().Create(context.Background(), nodeB, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testagent.Never(t, 300*time.Millisecond, "a node list before the agent held pod CIDRs", func() bool {
		return len(f.agent.RemoteNodesCalls()) > 0
	})
	f.ready(t)
	want := "[{node-b 192.168.1.2 [10.244.2.0/24]}]"
	testagent.Eventually(t, 5*time.Second, "node-b in the agent", func() bool {
		return fmt.Sprint(f.agent.RemoteNodes()) == want
	})

	f.server.Stop()
	fresh := testagent.New()
	fresh.HoldPodCidrs("10.244.1.0/24")
	testagent.Serve(t, f.socket, fresh)
	testagent.Eventually(t, 5*time.Second, "node-b in the restarted agent", func() bool {
		return fmt.Sprint(fresh.RemoteNodes()) == want
	})
}

// An agent restarted with a fresh state dir gets the CIDRs again, and the conflist stays meanwhile.
func TestRestartedAgentGetsTheCIDRsAgain(t *testing.T) {
	f := start(t, nil)
	f.ready(t)
	f.server.Stop()
	time.Sleep(100 * time.Millisecond)
	if !exists(f.cfg.CNI.Path()) {
		t.Fatal("conflist removed while the agent was down")
	}
	fresh := testagent.New()
	testagent.Serve(t, f.socket, fresh)
	testagent.Eventually(t, 5*time.Second, "the CIDRs in the restarted agent", func() bool {
		return slices.Equal(fresh.PodCidrs(), []string{"10.244.1.0/24"})
	})
	if !exists(f.cfg.CNI.Path()) {
		t.Fatal("conflist removed while the restarted agent was not ready")
	}
}

func TestHealthz(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	start(t, func(c *Config) { c.HealthAddress = addr })
	var body string
	testagent.Eventually(t, 5*time.Second, "GET /healthz", func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusOK
	})
	if body != "ok\n" {
		t.Fatalf("/healthz said %q", body)
	}
}

func TestHealthAddressInUseFailsTheStart(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	err = Run(context.Background(), Config{HealthAddress: l.Addr().String()}, fake.NewClientset(), nil)
	if err == nil {
		t.Fatal("Run started with its health address taken")
	}
}
