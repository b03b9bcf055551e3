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

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
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

	mu    sync.Mutex
	owner *metav1.OwnerReference // the DaemonSet seen by Prime, for when the pod cannot be read later
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

// Decide answers whether stopping now is an uninstall. When the API cannot tell, it keeps the
// conflist: a node whose conflist outlives dpcni fails pod creation with a clear CNI error, one that
// loses it during an upgrade turns NotReady and starts evicting.
func (d *Decider) Decide(ctx context.Context) Decision {
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
