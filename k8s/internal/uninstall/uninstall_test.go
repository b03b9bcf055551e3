package uninstall

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

const ns = "kube-system"

func daemonSet(uid types.UID, deleting bool) *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "dpcni", Namespace: ns, UID: uid}}
	if deleting {
		now := metav1.NewTime(time.Now())
		ds.DeletionTimestamp = &now
		ds.Finalizers = []string{metav1.FinalizerDeleteDependents}
	}
	return ds
}

func pod(owners ...metav1.OwnerReference) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "dpcni-x7k2p", Namespace: ns, OwnerReferences: owners}}
}

func controller(apiVersion, kind, name string, uid types.UID) metav1.OwnerReference {
	yes := true
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid, Controller: &yes}
}

var dsOwner = controller("apps/v1", "DaemonSet", "dpcni", "uid-1")

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name      string
		objects   []runtime.Object
		uninstall bool
		reason    string
	}{
		{"DaemonSet in place: restart or upgrade", []runtime.Object{pod(dsOwner), daemonSet("uid-1", false)}, false, "in place"},
		{"DaemonSet being deleted (foreground)", []runtime.Object{pod(dsOwner), daemonSet("uid-1", true)}, true, "being deleted"},
		{"DaemonSet gone", []runtime.Object{pod(dsOwner)}, true, "is gone"},
		{"DaemonSet replaced", []runtime.Object{pod(dsOwner), daemonSet("uid-2", false)}, true, "replaced"},
		{"no controller", []runtime.Object{pod(), daemonSet("uid-1", false)}, true, "no DaemonSet controller"},
		{"controlled by something else", []runtime.Object{pod(controller("v1", "Node", "node-a", "n")), daemonSet("uid-1", false)}, true, "no DaemonSet controller"},
		{"pod not readable, nothing primed", []runtime.Object{daemonSet("uid-1", false)}, false, "cannot read pod"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &Decider{Client: fake.NewClientset(tc.objects...), Namespace: ns, Name: "dpcni-x7k2p"}
			got := d.Decide(context.Background())
			if got.Uninstall != tc.uninstall || !strings.Contains(got.Reason, tc.reason) {
				t.Fatalf("Decide() = %+v; want uninstall=%v with %q", got, tc.uninstall, tc.reason)
			}
		})
	}
}

// A pod force-deleted from the API is gone when SIGTERM arrives: the DaemonSet seen at start decides.
func TestDecideWithThePodGoneUsesTheDaemonSetSeenAtStart(t *testing.T) {
	client := fake.NewClientset(pod(dsOwner), daemonSet("uid-1", false))
	d := &Decider{Client: client, Namespace: ns, Name: "dpcni-x7k2p"}
	d.Prime(context.Background())
	if err := client.CoreV1().Pods(ns).Delete(context.Background(), "dpcni-x7k2p", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := d.Decide(context.Background()); got.Uninstall {
		t.Fatalf("Decide() = %+v with the DaemonSet in place; want keep", got)
	}
	if err := client.AppsV1().DaemonSets(ns).Delete(context.Background(), "dpcni", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := d.Decide(context.Background()); !got.Uninstall || !strings.Contains(got.Reason, "gone") {
		t.Fatalf("Decide() = %+v with the DaemonSet gone; want uninstall", got)
	}
}

// When the API cannot answer (down, RBAC missing), the conflist is kept.
func TestDecideKeepsWhenTheAPIFails(t *testing.T) {
	forbidden := apierrors.NewForbidden(appsv1.Resource("daemonsets"), "dpcni", errors.New("RBAC"))
	client := fake.NewClientset(pod(dsOwner), daemonSet("uid-1", true))
	client.PrependReactor("get", "daemonsets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, forbidden
	})
	d := &Decider{Client: client, Namespace: ns, Name: "dpcni-x7k2p"}
	if got := d.Decide(context.Background()); got.Uninstall || !strings.Contains(got.Reason, "cannot read DaemonSet") {
		t.Fatalf("Decide() = %+v; want keep, naming the DaemonSet read", got)
	}

	client = fake.NewClientset(pod(dsOwner))
	client.PrependReactor("get", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	d = &Decider{Client: client, Namespace: ns, Name: "dpcni-x7k2p"}
	if got := d.Decide(context.Background()); got.Uninstall || !strings.Contains(got.Reason, "connection refused") {
		t.Fatalf("Decide() = %+v; want keep with the error", got)
	}
}

// startWatch primes a Decider on client and runs its Watch until the returned stop is called; it
// returns once the DaemonSet watch has been opened, so that changes made after it are seen.
func startWatch(t *testing.T, client *fake.Clientset) (*Decider, func()) {
	t.Helper()
	watching := make(chan struct{})
	var once sync.Once
	client.PrependWatchReactor("daemonsets", func(action k8stesting.Action) (bool, watch.Interface, error) {
		w, err := client.Tracker().Watch(appsv1.SchemeGroupVersion.WithResource("daemonsets"), action.GetNamespace())
		once.Do(func() { close(watching) })
		return true, w, err
	})
	d := &Decider{Client: client, Namespace: ns, Name: "dpcni-x7k2p"}
	d.Prime(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		d.Watch(ctx)
		close(done)
	}()
	stop := func() {
		cancel()
		<-done
	}
	select {
	case <-watching:
	case <-time.After(10 * time.Second):
		stop()
		t.Fatal("the DaemonSet watch did not start")
	}
	return d, stop
}

// helm uninstall deletes the DaemonSet, then the chart's ServiceAccount and RBAC, and only then does
// the garbage collector delete this pod: by SIGTERM the API refuses this pod's token. The deletion
// the watch saw while it could still read decides.
func TestDecideUninstallsWhenTheWatchSawTheDaemonSetGoAndTheAPINoLongerAnswers(t *testing.T) {
	client := fake.NewClientset(pod(dsOwner), daemonSet("uid-1", false))
	d, stop := startWatch(t, client)
	defer stop()

	if err := client.AppsV1().DaemonSets(ns).Delete(context.Background(), "dpcni", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	unauthorized := apierrors.NewUnauthorized("the ServiceAccount is gone")
	client.PrependReactor("get", "*", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, unauthorized
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := d.Decide(context.Background())
		if got.Uninstall {
			if !strings.Contains(got.Reason, "deleted") {
				t.Fatalf("Decide() = %+v; want the watch's reason", got)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Decide() = %+v 10 s after the DaemonSet was deleted; want uninstall", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A watch that sees the DaemonSet in place, and changes to it other than a deletion, changes
// nothing: stopping keeps the conflist.
func TestWatchOfADaemonSetInPlaceKeeps(t *testing.T) {
	client := fake.NewClientset(pod(dsOwner), daemonSet("uid-1", false))
	d, stop := startWatch(t, client)
	updated := daemonSet("uid-1", false)
	updated.Labels = map[string]string{"rolled": "yes"}
	if _, err := client.AppsV1().DaemonSets(ns).Update(context.Background(), updated, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	stop()
	if got := d.Decide(context.Background()); got.Uninstall {
		t.Fatalf("Decide() = %+v with the DaemonSet in place; want keep", got)
	}
}
