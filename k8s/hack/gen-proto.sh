#!/usr/bin/env bash
# Generates the Go stubs of proto/dpcni/v1/dpcni.proto into k8s/internal/dpcniv1, with Debian's protoc
# and the protoc-gen-go / protoc-gen-go-grpc versions pinned as tools in k8s/go.mod.
# `--check` generates into a scratch directory and fails when the committed stubs differ (a ctest).
#
# The .proto file is shared with the C++ build and carries no go_package option: the M mappings below
# give its Go import path instead, so the contract file stays language-neutral.
set -euo pipefail
k8s_dir=$(cd "$(dirname "$0")/.." && pwd)
repo_dir=$(dirname "$k8s_dir")
check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

go=${GO:-go}
protoc=${PROTOC:-protoc}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# `go build` resolves the tools at the versions go.mod pins (its `tool` block).
"$go" -C "$k8s_dir" build -o "$scratch/bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
"$go" -C "$k8s_dir" build -o "$scratch/bin/protoc-gen-go-grpc" google.golang.org/grpc/cmd/protoc-gen-go-grpc

proto=dpcni/v1/dpcni.proto
go_pkg=dpcni.dev/k8s/internal/dpcniv1
mkdir -p "$scratch/out"
"$protoc" --proto_path="$repo_dir/proto" \
  --plugin=protoc-gen-go="$scratch/bin/protoc-gen-go" \
  --plugin=protoc-gen-go-grpc="$scratch/bin/protoc-gen-go-grpc" \
  --go_out="$scratch/out" --go_opt=module=dpcni.dev/k8s --go_opt="M$proto=$go_pkg;dpcniv1" \
  --go-grpc_out="$scratch/out" --go-grpc_opt=module=dpcni.dev/k8s --go-grpc_opt="M$proto=$go_pkg;dpcniv1" \
  "$proto"

generated=$scratch/out/internal/dpcniv1
committed=$k8s_dir/internal/dpcniv1
if [ "$check" = 1 ]; then
  if ! diff -ru "$committed" "$generated"; then
    echo "gen-proto: k8s/internal/dpcniv1 is out of date with proto/$proto (or the pinned" \
      "generators); run k8s/hack/gen-proto.sh and commit the result" >&2
    exit 1
  fi
  echo "gen-proto: k8s/internal/dpcniv1 matches proto/$proto"
  exit 0
fi
rm -rf "$committed"
mkdir -p "$committed"
cp "$generated"/*.go "$committed"/
echo "gen-proto: wrote $(cd "$committed" && ls *.go | tr '\n' ' ')"
