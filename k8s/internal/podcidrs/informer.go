package podcidrs

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// WatchNode runs an informer on this node's Node object only and feeds it to s until ctx ends.
// The field selector keeps the watch to one object: a DaemonSet on every node watching every Node
// would send each node's status heartbeat to every node.
func WatchNode(ctx context.Context, client kubernetes.Interface, node string, s *Sender) {
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", node).String()
		}))
	informer := factory.Core().V1().Nodes().Informer()
	handle := func(obj any) {
		n, ok := obj.(*corev1.Node)
		if !ok || n.Name != node {
			return
		}
		s.NodeChanged(n)
	}
	_, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    handle,
		UpdateFunc: func(_, obj any) { handle(obj) },
		DeleteFunc: func(any) {
			// The agent keeps the CIDRs it has; a Node re-registered by kubelet comes back through AddFunc.
			klog.InfoS("Node object deleted; the agent keeps the pod CIDRs it has", "node", node)
		},
	})
	if err != nil {
		// Only fails once the informer has stopped, which it has not yet.
		klog.ErrorS(err, "Cannot watch the Node", "node", node)
		return
	}
	klog.InfoS("Watching the Node for its pod CIDRs", "node", node)
	factory.Start(ctx.Done())
	<-ctx.Done()
	factory.Shutdown()
}
