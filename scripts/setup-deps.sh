#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install the Debian packages the userspace build and tests need, if missing.
# Idempotent and quiet: prints one line when it installs something.
set -eu
pkgs="build-essential pkg-config liburing-dev libdrm-dev libpcre2-dev python3 python3-pip"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
command -v prove >/dev/null 2>&1 || missing="$missing perl"
[ -z "$missing" ] && exit 0
echo "setup-deps: installing$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
