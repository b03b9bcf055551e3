#!/usr/bin/env bash
# deploy/dpcni.yaml must be what charts/render.sh renders from the chart now: kubectl users get the
# chart's current objects.
#
#   deploy_in_sync_test.sh SOURCE_DIR HELM
set -euo pipefail
source_dir=$1 helm=$2
[ -x "$helm" ] || {
  echo "deploy_in_sync_test: no helm at $helm: build it with tools/k8s/build.sh (tools/test.sh does)," \
    "or point -DDPCNI_K8S_BIN_DIR at a directory holding helm" >&2
  exit 1
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A private home: no user's helm configuration or plugins change the output.
mkdir "$tmp/home"
HOME=$tmp/home XDG_CONFIG_HOME="" XDG_CACHE_HOME="" XDG_DATA_HOME="" \
  "$source_dir/charts/render.sh" --helm "$helm" --out "$tmp/dpcni.yaml"
if ! diff -u "$source_dir/deploy/dpcni.yaml" "$tmp/dpcni.yaml"; then
  echo "deploy_in_sync_test: deploy/dpcni.yaml is out of date: run charts/render.sh" >&2
  exit 1
fi
echo "deploy/dpcni.yaml matches the chart ($(grep -c '^kind:' "$tmp/dpcni.yaml") objects)"
