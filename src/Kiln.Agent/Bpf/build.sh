#!/usr/bin/env bash
# Regenerates profiler.bpf.o from profiler.bpf.c. Needs clang-14, llvm-strip-14, bpftool and
# libbpf-dev (apt-get install -y --no-install-recommends libbpf-dev bpftool).
#
# usage: build.sh [OUTPUT_DIR]   (default: this directory, i.e. the committed object)
#
# vmlinux.h is generated from the running kernel's BTF into src/Kiln.Agent/obj/bpf/ (not committed). The object only
# uses stable UAPI types from it (struct bpf_perf_event_data), so it is the same on any kernel.
# The build is reproducible: it compiles from this directory with relative paths and strips the
# DWARF sections (which record the working directory); BTF and BTF.ext, which libbpf needs, stay.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$(realpath -m "${1:-$here}")"
mkdir -p "$out"

for tool in clang-14 llvm-strip-14 bpftool; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "build.sh: $tool not found — apt-get install -y --no-install-recommends clang-14 llvm-14 libbpf-dev bpftool" >&2
    exit 1
  }
done
[ -f /usr/include/bpf/bpf_helpers.h ] || {
  echo "build.sh: bpf/bpf_helpers.h not found — apt-get install -y --no-install-recommends libbpf-dev" >&2
  exit 1
}

cd "$here"
gen="../obj/bpf"
mkdir -p "$gen"
bpftool btf dump file /sys/kernel/btf/vmlinux format c > "$gen/vmlinux.h"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
clang-14 -g -O2 -target bpf -D__TARGET_ARCH_x86 \
  -I"$gen" -I/usr/include/x86_64-linux-gnu \
  -fdebug-prefix-map="$here"=. -fno-ident \
  -Wall -Werror \
  -c profiler.bpf.c -o "$tmp/profiler.bpf.o"
llvm-strip-14 -g "$tmp/profiler.bpf.o"
mv "$tmp/profiler.bpf.o" "$out/profiler.bpf.o"
echo "built $out/profiler.bpf.o"
