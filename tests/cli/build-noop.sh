#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The build is stable (TAP): after `make all` (which `make test` runs first)
# every object still exists (none was deleted as an intermediate file) and a
# second `make all` has nothing to do. Read-only: `make -q`, `make -n` and
# `make -s print-VAR` never build, so this runs safely beside other tests.
set -u
top="${ACCEL_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}"
n=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
# mk ARGS...: make in the top directory with the sanitizer choice of the run,
# outside the calling make's jobserver
mk() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES \
		make --no-print-directory -C "$top" SANITIZE="${ACCEL_SANITIZE:-}" "$@"
}
if ! command -v make >/dev/null; then
	echo "1..0 # SKIP no make"
	exit 0
fi
objs=$(mk -s print-ALL_OBJS)
missing=0 total=0
for o in $objs; do
	total=$((total + 1))
	[ -e "$top/$o" ] || { missing=$((missing + 1)); [ $missing -le 5 ] && echo "# missing $o"; }
done
[ "$total" -gt 0 ] && [ "$missing" -eq 0 ]
ok $? "all $total objects of \`make all\` are kept (none deleted as intermediate)"

mk -q all
rc=$?
[ "$rc" -eq 0 ]
ok $? "a second \`make all\` has nothing to do (make -q: $rc)"
if [ "$rc" -ne 0 ]; then
	mk -n V=1 all 2>&1 | grep -v '^mkdir' | head -5 | sed 's/^/# would run: /'
fi
echo "1..$n"
