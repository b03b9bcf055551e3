package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"dpcni.dev/k8s/internal/testagent"
)

// The test binary doubles as dpcni-k8s: with DPCNI_K8S_TEST_MAIN=1 it runs main.
func TestMain(m *testing.M) {
	if os.Getenv("DPCNI_K8S_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

var fullEnv = map[string]string{"NODE_NAME": "node-a", "POD_NAME": "dpcni-x7k2p", "POD_NAMESPACE": "kube-system"}

func envWithout(name string) func(string) string {
	return func(key string) string {
		if key == name {
			return ""
		}
		return fullEnv[key]
	}
}

func TestParseNamesWhatIsMissing(t *testing.T) {
	source := []string{"--cni-conf-source", "/etc/dpcni/10-dpcni.conflist"}
	for _, tc := range []struct {
		name string
		args []string
		env  func(string) string
		want []string
	}{
		{"no NODE_NAME", source, envWithout("NODE_NAME"), []string{"NODE_NAME", "spec.nodeName", "downward API"}},
		{"no POD_NAME", source, envWithout("POD_NAME"), []string{"POD_NAME", "metadata.name"}},
		{"no POD_NAMESPACE", source, envWithout("POD_NAMESPACE"), []string{"POD_NAMESPACE", "metadata.namespace"}},
		{"no source", nil, envWithout(""), []string{"--cni-conf-source is required"}},
		{"conf name with a directory", append(source, "--cni-conf-name", "x/10-dpcni.conflist"), envWithout(""), []string{"--cni-conf-name"}},
		{"conf name not a conflist", append(source, "--cni-conf-name", "10-dpcni.conf"), envWithout(""), []string{".conflist"}},
		{"zero period", append(source, "--status-period", "0s"), envWithout(""), []string{"--status-period"}},
		{"stray argument", append(source, "extra"), envWithout(""), []string{"unexpected arguments"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(tc.args, tc.env, io.Discard)
			if err == nil {
				t.Fatal("parse succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
	o, err := parse(source, envWithout(""), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.app.NodeName != "node-a" || o.app.CNI.Path() != "/etc/cni/net.d/10-dpcni.conflist" || o.agentSocket != "/run/dpcni/dpcni.sock" ||
		o.app.HealthAddress != "" || o.app.RemovePlugin {
		t.Fatalf("defaults: %+v", o)
	}
}

func TestMissingNodeNameExitsWithAClearError(t *testing.T) {
	var stderr bytes.Buffer
	code := run([]string{"--cni-conf-source", "/x.conflist"}, envWithout("NODE_NAME"), &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "NODE_NAME") {
		t.Fatalf("exit %d, stderr %q; want 2 naming NODE_NAME", code, stderr.String())
	}
}

// apiServer is the handful of API paths dpcni-k8s uses, served from typed objects.
type apiServer struct {
	mu        sync.Mutex
	node      *corev1.Node
	pod       *corev1.Pod
	daemonSet *appsv1.DaemonSet // nil: NotFound
	requests  []string
}

func (a *apiServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.requests = append(a.requests, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
	a.mu.Unlock()
	write := func(obj any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(obj)
	}
	notFound := func(resource schema.GroupResource, name string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(apierrors.NewNotFound(resource, name).Status())
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case r.URL.Path == "/api/v1/nodes" && r.URL.Query().Get("watch") == "true":
		// Nothing changes: hold the watch open until the client goes.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		a.mu.Unlock()
		<-r.Context().Done()
		a.mu.Lock()
	case r.URL.Path == "/api/v1/nodes":
		// podcidrs lists its own Node; remotenodes lists every Node (here the one there is).
		if sel := r.URL.Query().Get("fieldSelector"); sel != "" && sel != "metadata.name="+a.node.Name {
			http.Error(w, "want the node's field selector or none", http.StatusBadRequest)
			return
		}
		write(&corev1.NodeList{TypeMeta: metav1.TypeMeta{Kind: "NodeList", APIVersion: "v1"},
			ListMeta: metav1.ListMeta{ResourceVersion: "1"}, Items: []corev1.Node{*a.node}})
	case r.URL.Path == "/api/v1/namespaces/kube-system/pods/"+a.pod.Name:
		write(a.pod)
	case r.URL.Path == "/apis/apps/v1/namespaces/kube-system/daemonsets/dpcni":
		if a.daemonSet == nil {
			notFound(appsv1.Resource("daemonsets"), "dpcni")
			return
		}
		write(a.daemonSet)
	default:
		notFound(schema.GroupResource{Resource: r.URL.Path}, "")
	}
}

func (a *apiServer) setDaemonSet(ds *appsv1.DaemonSet) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.daemonSet = ds
}

// runBinary starts the test binary as dpcni-k8s against a fake API server and a fake agent, waits
// until the conflist is installed, lets prepare change the API server, sends SIGTERM, and returns
// the exit code, the log and the paths.
func runBinary(t *testing.T, removePlugin bool, prepare func(*apiServer)) (code int, log string, conflistPath, pluginPath string) {
	yes := true
	api := &apiServer{
		node: &corev1.Node{TypeMeta: metav1.TypeMeta{Kind: "Node", APIVersion: "v1"},
			ObjectMeta: metav1.ObjectMeta{Name: "node-a", ResourceVersion: "1"},
			Spec:       corev1.NodeSpec{PodCIDR: "10.244.1.0/24", PodCIDRs: []string{"10.244.1.0/24", "fd00:10:244:1::/64"}}},
		pod: &corev1.Pod{TypeMeta: metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
			ObjectMeta: metav1.ObjectMeta{Name: "dpcni-x7k2p", Namespace: "kube-system", OwnerReferences: []metav1.OwnerReference{
				{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "dpcni", UID: "uid-1", Controller: &yes}}}},
		daemonSet: &appsv1.DaemonSet{TypeMeta: metav1.TypeMeta{Kind: "DaemonSet", APIVersion: "apps/v1"},
			ObjectMeta: metav1.ObjectMeta{Name: "dpcni", Namespace: "kube-system", UID: "uid-1"}},
	}
	server := httptest.NewServer(api)
	t.Cleanup(server.Close)

	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: %q}}]
users: [{name: test, user: {token: test}}]
contexts: [{name: test, context: {cluster: test, user: test}}]
current-context: test
`, server.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	source := filepath.Join(dir, "source.conflist")
	if err := os.WriteFile(source, []byte(`{"cniVersion":"1.0.0","name":"dpcni","plugins":[{"type":"dpcni"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	binDir := filepath.Join(dir, "bin")
	pluginPath = filepath.Join(binDir, "dpcni")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pluginPath, []byte("ELF"), 0o755); err != nil {
		t.Fatal(err)
	}
	confDir := filepath.Join(dir, "net.d")
	conflistPath = filepath.Join(confDir, "10-dpcni.conflist")

	socket := testagent.Socket(t)
	agent := testagent.New()
	testagent.Serve(t, socket, agent)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	health := l.Addr().String()
	l.Close()

	args := []string{"--kubeconfig", kubeconfig, "--agent-socket", socket, "--cni-conf-source", source,
		"--cni-conf-dir", confDir, "--cni-bin-dir", binDir, "--health-address", health, "--status-period", "50ms"}
	if removePlugin {
		args = append(args, "--uninstall-remove-plugin")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "DPCNI_K8S_TEST_MAIN=1", "NODE_NAME=node-a", "POD_NAME=dpcni-x7k2p", "POD_NAMESPACE=kube-system")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})

	testagent.Eventually(t, 10*time.Second, "SetPodCidrs from the binary", func() bool {
		return slices.Equal(agent.PodCidrs(), []string{"10.244.1.0/24"})
	})
	agent.SetReady(true, "serving")
	testagent.Eventually(t, 10*time.Second, "the conflist from the binary", func() bool {
		_, err := os.Stat(conflistPath)
		return err == nil
	})
	resp, err := http.Get("http://" + health + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz: %s", resp.Status)
	}

	prepare(api)
	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	select {
	case err := <-exited:
		exited <- err
		code = cmd.ProcessState.ExitCode()
	case <-ctx.Done():
		t.Fatalf("no exit within 15 s of SIGTERM; log:\n%s", stderr.String())
	}
	t.Logf("exited %d in %v after SIGTERM; log:\n%s", code, time.Since(sent).Round(time.Millisecond), stderr.String())
	return code, stderr.String(), conflistPath, pluginPath
}

func TestBinaryKeepsTheConflistOnRestart(t *testing.T) {
	code, log, conflist, plugin := runBinary(t, true, func(*apiServer) {})
	if code != 0 {
		t.Fatalf("exit %d; log:\n%s", code, log)
	}
	for _, path := range []string{conflist, plugin} {
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%s gone on a restart: %v", path, err)
		}
	}
	if !strings.Contains(log, "Keeping the CNI conflist") {
		t.Errorf("no keep decision in the log:\n%s", log)
	}
}

func TestBinaryUninstallsWhenTheDaemonSetIsGone(t *testing.T) {
	code, log, conflist, plugin := runBinary(t, true, func(a *apiServer) { a.setDaemonSet(nil) })
	if code != 0 {
		t.Fatalf("exit %d; log:\n%s", code, log)
	}
	for _, path := range []string{conflist, plugin} {
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("%s left after uninstall: %v", path, err)
		}
	}
	for _, want := range []string{"Uninstalling", "DaemonSet kube-system/dpcni is gone", "Skipping the Node's IPv6 pod CIDRs", "Installed the CNI conflist"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}
