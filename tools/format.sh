#!/usr/bin/env bash
# Formats every tracked C++ file in place with the committed .clang-format (clang-format-14, from
# tools/install-deps.sh). The format_check test runs the same check without writing.
set -euo pipefail
cd "$(dirname "$0")/.."
clang_format=$(command -v clang-format-14 || command -v clang-format)
git ls-files -z '*.cc' '*.h' '*.c' | xargs -0 "$clang_format" -i
