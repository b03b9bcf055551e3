// Package uninstall decides, when the pod is asked to stop, whether dpcni is being removed from the
// node (remove the CNI conflist) or only restarted or upgraded (keep it).
//
// Kubernetes sends the same SIGTERM in both cases. What differs is the pod's DaemonSet: an uninstall
// deletes it (helm uninstall, kubectl delete) before or while its pods go, an upgrade or a restart
// leaves it in place. Removing the conflist on an upgrade would turn the node NotReady for the
// length of the rollout; keeping it after an uninstall would leave the runtime calling a plugin
// whose agent is gone, so that no pod on the node could start.
package uninstall

import (
	"context"
	"fmt"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// Decision is the outcome, with the reason logged next to it.
type Decision struct {
	Uninstall bool
	Reason    string
}

// Decider reads the pod (Namespace/Name) and its DaemonSet.
type Decider struct {
	Client    kubernetes.Interface
	Namespace string
	Name      string

	mu      sync.Mutex
	owner   *metav1.OwnerReference // the DaemonSet seen by Prime, for when the pod cannot be read later
	deleted string                 // why Watch saw that DaemonSet deleted; empty while it has not
}

// Prime reads the pod's DaemonSet at start, so that a pod force-deleted from the API (gone by the
// time SIGTERM arrives) still knows which DaemonSet to ask about.
func (d *Decider) Prime(ctx context.Context) {
	pod, err := d.Client.CoreV1().Pods(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
	if err != nil {
		klog.InfoS("Cannot read this pod at start; the DaemonSet is looked up when stopping",
			"pod", klog.KRef(d.Namespace, d.Name), "err", err)
		return
	}
	owner := daemonSetOwner(pod.OwnerReferences)
	if owner == nil {
		klog.InfoS("This pod has no DaemonSet controller: stopping it counts as an uninstall",
			"pod", klog.KRef(d.Namespace, d.Name))
		return
	}
	d.mu.Lock()
	d.owner = owner
	d.mu.Unlock()
}

// Watch follows the DaemonSet Prime found until ctx ends, and remembers its deletion. helm uninstall
// deletes the chart's ServiceAccount and RBAC right after the DaemonSet, before the garbage collector
// deletes this pod: when SIGTERM arrives the API server may already refuse this pod's token
// (Unauthorized), so what the watch saw while it could still read decides. The field selector keeps
// it to that one object, which RBAC allows by name.
func (d *Decider) Watch(ctx context.Context) {
	d.mu.Lock()
	owner := d.owner
	d.mu.Unlock()
	if owner == nil {
		return
	}
	factory := informers.NewSharedInformerFactoryWithOptions(d.Client, 0,
		informers.WithNamespace(d.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", owner.Name).String()
		}))
	ref := d.Namespace + "/" + owner.Name
	seen := func(obj any) {
		ds, ok := obj.(*appsv1.DaemonSet)
		if ok && ds.UID == owner.UID && ds.DeletionTimestamp != nil {
			d.markDeleted(fmt.Sprintf("DaemonSet %s is being deleted (seen by the watch)", ref))
		}
	}
	_, err := factory.Apps().V1().DaemonSets().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    seen,
		UpdateFunc: func(_, obj any) { seen(obj) },
		DeleteFunc: func(obj any) {
			// A deletion the watch missed (a reconnect) comes from the relist as a tombstone.
			if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tombstone.Obj
			}
			if ds, ok := obj.(*appsv1.DaemonSet); ok && ds.UID == owner.UID {
				d.markDeleted(fmt.Sprintf("DaemonSet %s was deleted (seen by the watch)", ref))
			}
		},
	})
	if err != nil {
		klog.ErrorS(err, "Cannot watch this pod's DaemonSet", "daemonSet", klog.KRef(d.Namespace, owner.Name))
		return
	}
	factory.Start(ctx.Done())
	<-ctx.Done()
	factory.Shutdown()
}

func (d *Decider) markDeleted(reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.deleted == "" {
		d.deleted = reason
		klog.InfoS("This pod's DaemonSet is going: the next stop uninstalls", "reason", reason)
	}
}

// Decide answers whether stopping now is an uninstall. When the API cannot tell, it keeps the
// conflist: a node whose conflist outlives dpcni fails pod creation with a clear CNI error, one that
// loses it during an upgrade turns NotReady and starts evicting.
func (d *Decider) Decide(ctx context.Context) Decision {
	d.mu.Lock()
	deleted := d.deleted
	d.mu.Unlock()
	if deleted != "" {
		return Decision{true, deleted}
	}
	pod, err := d.Client.CoreV1().Pods(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
	var owner *metav1.OwnerReference
	switch {
	case err == nil:
		owner = daemonSetOwner(pod.OwnerReferences)
		if owner == nil {
			return Decision{true, fmt.Sprintf("pod %s/%s has no DaemonSet controller, nothing starts it again", d.Namespace, d.Name)}
		}
	default:
		d.mu.Lock()
		owner = d.owner
		d.mu.Unlock()
		if owner == nil {
			return Decision{false, fmt.Sprintf("cannot read pod %s/%s to find its DaemonSet (%v)", d.Namespace, d.Name, err)}
		}
		klog.InfoS("Cannot read this pod; using the DaemonSet seen at start", "pod", klog.KRef(d.Namespace, d.Name),
			"daemonSet", klog.KRef(d.Namespace, owner.Name), "err", err)
	}

	ds, err := d.Client.AppsV1().DaemonSets(d.Namespace).Get(ctx, owner.Name, metav1.GetOptions{})
	ref := d.Namespace + "/" + owner.Name
	switch {
	case apierrors.IsNotFound(err):
		return Decision{true, fmt.Sprintf("DaemonSet %s is gone", ref)}
	case err != nil:
		return Decision{false, fmt.Sprintf("cannot read DaemonSet %s (%v)", ref, err)}
	case ds.UID != owner.UID:
		// Deleted and created again (helm uninstall then install): this pod's DaemonSet is gone, and
		// the new one's pod installs its own conflist once its agent is ready.
		return Decision{true, fmt.Sprintf("DaemonSet %s was replaced (uid %s, this pod's was %s)", ref, ds.UID, owner.UID)}
	case ds.DeletionTimestamp != nil:
		// Foreground deletion: the DaemonSet stays, marked, until its pods are gone.
		return Decision{true, fmt.Sprintf("DaemonSet %s is being deleted", ref)}
	default:
		return Decision{false, fmt.Sprintf("DaemonSet %s is in place: a restart or an upgrade", ref)}
	}
}

// daemonSetOwner returns the controller reference when it is a DaemonSet.
func daemonSetOwner(refs []metav1.OwnerReference) *metav1.OwnerReference {
	for i := range refs {
		ref := refs[i]
		gv, err := schema.ParseGroupVersion(ref.APIVersion)
		if err == nil && gv.Group == "apps" && ref.Kind == "DaemonSet" && ref.Controller != nil && *ref.Controller {
			return &ref
		}
	}
	return nil
}
