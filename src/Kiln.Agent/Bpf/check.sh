#!/usr/bin/env bash
# Fails when the committed profiler.bpf.o no longer matches what build.sh makes from the source.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$here/build.sh" "$tmp" >/dev/null
if ! cmp -s "$tmp/profiler.bpf.o" "$here/profiler.bpf.o"; then
  echo "check.sh: src/Kiln.Agent/Bpf/profiler.bpf.o does not match profiler.bpf.c — run src/Kiln.Agent/Bpf/build.sh and commit profiler.bpf.o" >&2
  exit 1
fi
echo "check.sh: profiler.bpf.o matches its source"
