#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install the Debian packages the userspace build and tests need, if missing.
# Idempotent and quiet: prints one line when it installs something.
# --test: also the Python packages some tests compare against (gguf-py, numpy)
#   and the `openai` client accel-serve's test talks to.
#   They go where python3 takes them; where pip refuses (Debian 12's system
#   Python is "externally managed", PEP 668), into a virtual environment,
#   build/pyenv, which the Makefile then hands to the tests as $ACCEL_PYTHON.
# ACCEL_SETUP_PYTHON (default python3) and ACCEL_PYENV (default build/pyenv)
# override the interpreter and the environment's directory.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
want_py=0
[ "${1:-}" = "--test" ] && want_py=1
py=${ACCEL_SETUP_PYTHON:-python3}
pyenv=${ACCEL_PYENV:-$top/build/pyenv}
# openmpi-bin + libopenmpi-dev: accel-run's pipeline over MPI ranks and its tests
# libmicrohttpd-dev + libjson-c-dev + curl: accel-serve and its tests
pkgs="build-essential pkg-config liburing-dev libdrm-dev libpcre2-dev libmicrohttpd-dev libjson-c-dev curl python3 python3-pip openmpi-bin libopenmpi-dev"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
command -v prove >/dev/null 2>&1 || missing="$missing perl"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
apt_install() {
	echo "setup-deps: installing $*"
	$SUDO apt-get update -qq >/dev/null
	$SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
have_refs() { "$1" -c 'import gguf, numpy, openai' >/dev/null 2>&1; }
pydeps() {
	[ $want_py = 1 ] || return 0
	# gguf-py (llama.cpp's own Python package) is the second opinion the
	# kernels' dequantization tests compare against; CI (ACCEL_REQUIRE_REFS=1)
	# fails without it; the openai package is the real client accel-serve's
	# test (tests/cli/serve.sh) talks to
	have_refs "$pyenv/bin/python3" && return 0
	have_refs "$py" && return 0
	if "$py" -m pip install -q gguf numpy openai >/dev/null 2>&1 && have_refs "$py"; then
		return 0
	fi
	# PEP 668 (or no pip for this interpreter): a virtual environment
	if ! "$py" -c 'import venv, ensurepip' >/dev/null 2>&1; then
		apt_install python3-venv
	fi
	if "$py" -m venv "$pyenv" &&
	   "$pyenv/bin/python3" -m pip install -q gguf numpy openai >/dev/null 2>&1 &&
	   have_refs "$pyenv/bin/python3"; then
		echo "setup-deps: gguf-py, numpy and openai installed in $pyenv"
		return 0
	fi
	echo "setup-deps: cannot install gguf numpy openai (pip and $pyenv failed): the tests that need them will skip" >&2
	return 1
}
if [ -n "$missing" ]; then
	# shellcheck disable=SC2086
	apt_install $missing
fi
pydeps
