package remotenodes

import (
	"context"
	"errors"
	"io"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// Watch runs an informer on every Node and feeds s until ctx ends.
//
// It is not podcidrs' informer: that one watches this node only (a field selector), and this one
// needs its list and watch calls wrapped. The reflector retries a watch that fails with "connection
// refused" (the API server is down) by itself, without calling the watch error handler, so the
// handler alone would not see the most common outage; the wrapper sees every failed call, and the
// first watch that opens again after one.
func Watch(ctx context.Context, kube kubernetes.Interface, s *Syncer) {
	nodes := kube.CoreV1().Nodes()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			list, err := nodes.List(ctx, o)
			if err != nil && ctx.Err() == nil {
				s.WatchFailed(err)
			}
			return list, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			w, err := nodes.Watch(ctx, o)
			switch {
			case ctx.Err() != nil:
			case err != nil:
				s.WatchFailed(err)
			default:
				// A watch opens after a list that went through, or resumes from the last resource
				// version the store has: either way the store is in step again.
				s.WatchRecovered()
			}
			return w, err
		},
	}
	informer := cache.NewSharedIndexInformer(lw, &corev1.Node{}, 0, cache.Indexers{})
	// Every Node of the cluster stays in memory: keep only what the list is made of. Status
	// heartbeats still arrive as updates, and are dropped below when nothing kept changed.
	if err := informer.SetTransform(trim); err != nil {
		klog.ErrorS(err, "Cannot trim cached Nodes")
	}
	if err := informer.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
		cache.DefaultWatchErrorHandler(ctx, r, err)
		// A watch the server closed, or whose resource version expired, is relisted at once: no outage.
		if errors.Is(err, io.EOF) || apierrors.IsResourceExpired(err) || apierrors.IsGone(err) || ctx.Err() != nil {
			return
		}
		s.WatchFailed(err)
	}); err != nil {
		klog.ErrorS(err, "Cannot set the Node watch error handler")
	}
	s.mu.Lock()
	s.nodes = func() []*corev1.Node {
		objs := informer.GetStore().List()
		out := make([]*corev1.Node, 0, len(objs))
		for _, obj := range objs {
			if n, ok := obj.(*corev1.Node); ok {
				out = append(out, n)
			}
		}
		return out
	}
	s.mu.Unlock()

	reg, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { s.Changed() },
		UpdateFunc: func(old, obj any) {
			o, ok1 := old.(*corev1.Node)
			n, ok2 := obj.(*corev1.Node)
			if ok1 && ok2 && reflect.DeepEqual(o.Annotations, n.Annotations) &&
				reflect.DeepEqual(o.Spec, n.Spec) && reflect.DeepEqual(o.Status, n.Status) {
				return
			}
			s.Changed()
		},
		DeleteFunc: func(any) { s.Changed() },
	})
	if err != nil {
		// Only fails once the informer has stopped, which it has not yet.
		klog.ErrorS(err, "Cannot watch the Nodes")
		return
	}
	klog.InfoS("Watching every Node for the remote node list", "ownNode", s.own)
	done := make(chan struct{})
	go func() {
		defer close(done)
		informer.RunWithContext(ctx)
	}()
	defer func() { <-done }()
	// The handler has seen every Node of the first list: a list sent before would be partial.
	if cache.WaitForCacheSync(ctx.Done(), reg.HasSynced) {
		s.Synced()
	}
	<-ctx.Done()
}

// trim keeps of a Node what Describe reads, and what the informer needs.
func trim(obj any) (any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil // cache.DeletedFinalStateUnknown
	}
	out := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, UID: n.UID, ResourceVersion: n.ResourceVersion},
		Spec:       corev1.NodeSpec{PodCIDR: n.Spec.PodCIDR, PodCIDRs: n.Spec.PodCIDRs},
		Status:     corev1.NodeStatus{Addresses: n.Status.Addresses},
	}
	if v, set := n.Annotations[DataAddressAnnotation]; set {
		out.Annotations = map[string]string{DataAddressAnnotation: v}
	}
	return out, nil
}
