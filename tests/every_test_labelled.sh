#!/usr/bin/env bash
# Fails when a ctest test carries no label. The labels choose what runs where (`ctest -L unit` on a
# laptop without root, `-LE '^(k8s|helm)$'` while the Kubernetes build finishes), so an unlabelled
# test silently drops out of every selection but the full run.
#   every_test_labelled.sh BUILD_DIR
set -euo pipefail
unlabelled=$(ctest --test-dir "$1" -N -LE '.' | sed -n 's/^ *Test *#[0-9]*: //p')
if [ -n "$unlabelled" ]; then
  echo "tests without a ctest label (see docs/testing.md for which one to give):" >&2
  echo "$unlabelled" >&2
  exit 1
fi
echo "every test is labelled: $(ctest --test-dir "$1" -N | sed -n 's/^Total Tests: //p') tests"
