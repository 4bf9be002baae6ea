#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Pack what tests/gpu/run.sh needs on a GPU machine that has the NVIDIA
# driver, nvcc and cuBLAS but not liburing, libdrm, PCRE2 or Open MPI and
# cannot install packages (DESIGN.md): the tools, the CUDA backend, the GPU
# test programs, and every shared object they load that is neither glibc's
# nor CUDA's, in a tree shaped like build/ (bin/, lib/, tests/, gpu/), as
# one compressed file to carry with the working tree:
#
#   scripts/gpu-bundle.sh [OUT.tar.xz]     (default build/gpu-bundle.tar.xz)
#   tests/gpu/run.sh --bundle build/gpu-bundle.tar.xz      (on the GPU machine)
#
# Builds first (make and make cuda; needs nvcc here). The bundle runs where
# glibc is at least this machine's (Debian 12: 2.36).
set -eu
top="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$top/build/gpu-bundle.tar.xz}"
cd "$top"
command -v "$(make -s print-NVCC)" >/dev/null 2>&1 || {
	echo "gpu-bundle: nvcc not found: the CUDA backend cannot be built here" >&2
	exit 1
}
make -s -j2 all cuda
B=$(make -s print-B)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root="$stage/accel-gpu"
mkdir -p "$root/bin" "$root/lib" "$root/tests/runtime" "$root/tests/conformance" "$root/gpu"
progs=("$B/bin/accel-run" "$B/bin/accel-bench" "$B/bin/accel-mkmodel")
# accel-serve where it was built (libmicrohttpd, json-c: ldd brings them along)
[ -x "$B/bin/accel-serve" ] && progs+=("$B/bin/accel-serve")
cp "${progs[@]}" "$root/bin/"
cp "$B/lib/libaccel-cuda.so.1" "$root/lib/"
cp "$B/tests/runtime/test_gpu_model" "$root/tests/runtime/"
cp "$B/tests/conformance/gpu" "$root/tests/conformance/"
cp "$B/gpu/test_backend_ops" "$B/gpu/bench_cuda" "$root/gpu/"
# the shared objects they load, but glibc's own and CUDA's (the GPU machine
# has those, matched to its driver)
ldd "${progs[@]}" "$B/lib/libaccel-cuda.so.1" "$B/tests/runtime/test_gpu_model" \
	"$B/tests/conformance/gpu" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' |
	sort -u | while read -r name path; do
		case "$name" in
		libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*|libresolv.so.*|\
		libcuda.so.*|libcudart.so.*|libcublas*.so.*|libnvidia*)
			continue ;;
		esac
		cp -L "$path" "$root/lib/$name"
	done
tar -C "$stage" -cJf "$out" accel-gpu
echo "gpu-bundle: $out ($(du -k "$out" | cut -f1) KiB): $(ls "$root/lib" | tr '\n' ' ')"
