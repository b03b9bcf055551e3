#!/usr/bin/env bash
# The node's mount namespace, for tests/k8s/cluster.sh: run inside the node's netns under
# `unshare --mount --propagation private`, it makes the machine's host paths private to the node and
# then holds the namespace open (its PID is written to $K8S_NODE_DIR/pid); containerd, kubelet and
# kube-proxy enter it with nsenter. Each node of a run has its own K8S_NODE_DIR, so its own overlays:
# what one node writes to a host path (the chart's hostPaths too) the other never sees.
#
# kubelet and containerd must share one mount namespace: kubelet mounts the pods' volumes (tmpfs for
# secrets and projected tokens) under its root directory and runc, started by containerd, must see
# them to bind them into containers.
#
#   node.sh ENV_FILE
set -euo pipefail
# shellcheck disable=SC1090
source "$1"
node=$K8S_NODE_DIR

# /sys of this netns, so that kubelet and cAdvisor see the node's interfaces, not the machine's; the
# cgroup hierarchies mounted under the old one are moved onto the new one.
mkdir -p "$node/mnt/cgroup"
mount --rbind /sys/fs/cgroup "$node/mnt/cgroup"
mount -t sysfs sysfs /sys
mount --move "$node/mnt/cgroup" /sys/fs/cgroup

# kubelet sets vm.overcommit_memory, vm.panic_on_oom, kernel.panic, kernel.panic_on_oops and the
# root key quotas at start (protectKernelDefaults only turns that into a refusal to start). They are
# the machine's, not the netns's: the node writes into copies bound over them instead.
mkdir -p "$node/sysctl"
for name in vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops \
  kernel/keys/root_maxkeys kernel/keys/root_maxbytes; do
  copy=$node/sysctl/${name//\//.}
  cat "/proc/sys/$name" >"$copy"
  mount --bind "$copy" "/proc/sys/$name"
done

# The host paths a node and the chart use (/etc/cni/net.d, /opt/cni/bin, /var/lib/kubelet,
# /var/log/pods, /var/lib/dpcni, …) exist on the node only: /etc, /opt and /var are overlays whose
# upper layers are the run's, so the node sees the machine's files and writes only its own; /run is
# a fresh tmpfs (containerd's shim sockets, /run/netns with the pods' netns, /run/dpcni).
for dir in etc opt var; do
  mkdir -p "$node/overlay/$dir/upper" "$node/overlay/$dir/work"
  mount -t overlay overlay \
    -o "lowerdir=/$dir,upperdir=$node/overlay/$dir/upper,workdir=$node/overlay/$dir/work" "/$dir"
done
# The machine's named netns (other runs' too) were copied into this namespace with /run/netns; they
# would live on as long as the node does.
umount --recursive --lazy /run/netns 2>/dev/null || true
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/netns /etc/cni/net.d /opt/cni/bin /var/lib/kubelet /var/log/pods
# kubelet's root on a plain directory: cAdvisor reports the node's filesystem (capacity, eviction
# signals) by the device of the mount holding it, and an overlay has none it knows.
mkdir -p "$node/kubelet-root"
mount --bind "$node/kubelet-root" /var/lib/kubelet
# The node's own plugins: loopback (containerd's CRI needs it for every sandbox), portmap, and
# bridge with host-local for the baseline network.
cp /usr/lib/cni/loopback /usr/lib/cni/portmap /usr/lib/cni/bridge /usr/lib/cni/host-local \
  /opt/cni/bin/

# containerd's CRI refuses a HostToContainer (or Bidirectional) mount of a host path whose mount is
# private, and mounts made later under /run/netns or /var/lib/kubelet must reach the containers
# that hold them: every mount of the node is shared within it, as on a systemd host. The machine
# sees none of it (the namespace was made private first).
mount --make-rshared /

echo "$$" >"$node/pid"
exec sleep infinity
