#!/usr/bin/env bash
# Builds the Kubernetes programs the cluster lane runs, from their Go modules at pinned versions:
# kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy and kubectl from
# k8s.io/kubernetes, etcd, helm and crictl. Each has its own module under tools/k8s/<name>/ whose
# go.mod and go.sum pin it (and its whole dependency graph); this script only builds.
#
#   tools/k8s/build.sh OUT_DIR
#
# Go keeps its module and build caches in its default folders (go env GOMODCACHE GOCACHE), outside
# the clone, so a second run only links. containerd and runc come from Debian (install-deps.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: tools/k8s/build.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)

if ! command -v go >/dev/null; then
  echo "tools/k8s/build.sh: no go command on PATH (expected Go >= 1.26 at /usr/local/go/bin)" >&2
  exit 1
fi

# The versions, read back from the pinning go.mod files so there is one place to change them.
module_version() {  # DIR MODULE
  (cd "$here/$1" && go list -m -f '{{.Version}}' "$2")
}
k8s_version=$(module_version kubernetes k8s.io/kubernetes)
helm_version=$(module_version helm helm.sh/helm/v3)
crictl_version=$(module_version crictl sigs.k8s.io/cri-tools)

# Kubernetes' own build stamps these; without them every component reports v0.0.0-master and
# kubectl warns about version skew.
k8s_minor=${k8s_version#v1.}
k8s_minor=${k8s_minor%%.*}
k8s_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
  k8s_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

build() {  # MODULE_DIR LDFLAGS PACKAGE BINARY
  local dir=$1 ldflags=$2 pkg=$3 bin=$4
  (cd "$here/$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/$bin" "$pkg")
}

start=$SECONDS
for cmd in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
  build kubernetes "$k8s_ldflags" "k8s.io/kubernetes/cmd/$cmd" "$cmd"
done
build etcd "-s -w" go.etcd.io/etcd/server/v3 etcd
# helm's own release build stamps the Kubernetes version of the client-go it links; without it
# `helm template` and `helm lint` assume Kubernetes 1.20 for .Capabilities and deprecation checks.
helm_k8s=$(module_version helm k8s.io/client-go)
helm_k8s_minor=${helm_k8s#v0.}
helm_k8s_minor=${helm_k8s_minor%%.*}
helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version"
for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  helm_ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$helm_k8s_minor"
done
build helm "$helm_ldflags" helm.sh/helm/v3/cmd/helm helm
build crictl "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$crictl_version" \
  sigs.k8s.io/cri-tools/cmd/crictl crictl
echo "tools/k8s/build.sh: Kubernetes $k8s_version, helm $helm_version, crictl $crictl_version" \
  "in $out ($((SECONDS - start)) s)" >&2
