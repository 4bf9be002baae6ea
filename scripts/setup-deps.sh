#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install the Debian packages the userspace build and tests need, if missing.
# Idempotent and quiet: prints one line when it installs something.
# --test: also the Python packages some tests compare against (gguf-py).
set -eu
want_py=0
[ "${1:-}" = "--test" ] && want_py=1
pkgs="build-essential pkg-config liburing-dev libdrm-dev libpcre2-dev python3 python3-pip"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
command -v prove >/dev/null 2>&1 || missing="$missing perl"
pydeps() {
	[ $want_py = 1 ] || return 0
	# gguf-py (llama.cpp's own Python package) is the second opinion the
	# kernels' dequantization tests compare against; without it they skip
	python3 -c 'import gguf, numpy' 2>/dev/null && return 0
	python3 -m pip install -q gguf numpy >/dev/null 2>&1 ||
		echo "setup-deps: pip install gguf numpy failed: the gguf-py tests will skip"
}
if [ -z "$missing" ]; then
	pydeps
	exit 0
fi
echo "setup-deps: installing$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
pydeps
