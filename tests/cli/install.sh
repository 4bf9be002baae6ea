#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make install / uninstall (TAP): `make install DESTDIR=tmp prefix=/usr` of
# the built tree puts the tools, libaccel.so with its links, self-contained
# headers, libaccel.pc and man pages where a distribution expects them; a
# program built only with `pkg-config --cflags --libs libaccel` against that
# root opens the emulated device, makes a KV pool and closes, on the
# installed library; uninstall leaves no file behind. Never builds: when the
# installed files are not up to date it skips (make test builds them first).
set -u
top="${ACCEL_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}"
cc=${CC:-gcc}
n=0
fails=0
ok() {
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fails=$((fails + 1)); fi
}
mk() {	# make in the top directory, outside the calling make's jobserver
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES \
		make --no-print-directory -C "$top" SANITIZE="${ACCEL_SANITIZE:-}" "$@"
}
for t in make pkg-config "$cc"; do
	if ! command -v "$t" >/dev/null; then
		echo "1..0 # SKIP no $t"
		exit 0
	fi
done
{
	read -r bins
	read -r so
	read -r version
	read -r tools
} < <(mk -s print-BINS print-LIBACCEL_SO print-LIBACCEL_VERSION print-TOOLS)
# shellcheck disable=SC2086
if ! mk -q $bins $so; then
	echo "1..0 # SKIP the tools or libaccel.so are not built (make all first)"
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
san=
[ "${ACCEL_SANITIZE:-}" = 1 ] && san="-fsanitize=address,undefined"

mk -s install DESTDIR="$root" prefix=/usr >"$tmp/log" 2>&1
ok $? "make install DESTDIR=... prefix=/usr"
[ -s "$tmp/log" ] && sed 's/^/# /' "$tmp/log"

all=0
for t in $tools; do [ -x "$root/usr/bin/$t" ] || { all=1; echo "# no $t"; }; done
ok $all "the tools in /usr/bin ($tools)"
lib=$root/usr/lib
[ -f "$lib/libaccel.so.$version" ] && [ ! -L "$lib/libaccel.so.$version" ] &&
	[ "$(readlink "$lib/libaccel.so.0")" = "libaccel.so.$version" ] &&
	[ "$(readlink "$lib/libaccel.so")" = "libaccel.so.0" ]
ok $? "/usr/lib: libaccel.so.$version, libaccel.so.0 and libaccel.so links"
soname=$(readelf -d "$lib/libaccel.so.$version" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = libaccel.so.0 ]
ok $? "its soname is libaccel.so.0 ($soname)"
[ -f "$root/usr/include/accel/accel.h" ] && [ -f "$root/usr/include/accel/accel_cmd.h" ]
ok $? "headers in /usr/include/accel"
all=0
for m in accel-run.1 accel-serve.1 accelctl.1 accel-bench.1 accel-mkmodel.1; do
	[ -f "$root/usr/share/man/man1/$m" ] || { all=1; echo "# no man1/$m"; }
done
[ -f "$root/usr/share/man/man3/libaccel.3" ] || all=1
ok $all "man pages in /usr/share/man/man1 and man3"
if command -v groff >/dev/null; then
	LC_ALL=C groff -man -ww -z -Tutf8 "$root"/usr/share/man/man*/* >"$tmp/groff" 2>&1 &&
		[ ! -s "$tmp/groff" ]
	ok $? "the man pages format without groff warnings"
	sed 's/^/# /' "$tmp/groff" | head -5
fi

export PKG_CONFIG_PATH=$lib/pkgconfig PKG_CONFIG_LIBDIR=$lib/pkgconfig
export PKG_CONFIG_SYSROOT_DIR=$root PKG_CONFIG_ALLOW_SYSTEM_LIBS=1 PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1
[ "$(pkg-config --modversion libaccel 2>&1)" = "$version" ]
ok $? "pkg-config finds libaccel $version"
flags=$(pkg-config --cflags --libs libaccel)
case " $flags " in
*" -I$root/usr/include/accel "*"-L$root/usr/lib "*"-laccel "*) r=0 ;;
*) r=1 ;;
esac
ok $r "pkg-config --cflags --libs: $flags"

# the installed headers stand alone: no path of the source tree, strict C and C++
printf '#include <accel.h>\nint main(void) { return ACCEL_OP_NOP; }\n' >"$tmp/h.c"
# shellcheck disable=SC2046
$cc -std=c99 -pedantic -Wall -Wextra -Werror $(pkg-config --cflags libaccel) \
	-fsyntax-only "$tmp/h.c" 2>&1 | sed 's/^/# /'
ok "${PIPESTATUS[0]}" "<accel.h> alone compiles as strict C99"
if command -v g++ >/dev/null; then
	cp "$tmp/h.c" "$tmp/h.cc"
	# shellcheck disable=SC2046
	g++ -Wall -Werror $(pkg-config --cflags libaccel) -fsyntax-only "$tmp/h.cc" 2>&1 | sed 's/^/# /'
	ok "${PIPESTATUS[0]}" "<accel.h> alone compiles as C++"
fi

cat >"$tmp/prog.c" <<'EOF'
#include <stdio.h>
#include <string.h>
#include <accel.h>

int main(void)
{
	struct accel_pool_opts o = ACCEL_OPTS(accel_pool_opts, .size = 1 << 20,
					      .block_size = 64 << 10, .flags = ACCEL_POOL_KV);
	struct accel_device_info di;
	struct accel_pool_info pi;
	struct accel_device *dev = NULL;
	struct accel_pool *pool = NULL;
	uint32_t blocks[4];
	int ret;

	ret = accel_device_open(NULL, &dev);
	if (ret) {
		fprintf(stderr, "accel_device_open: %s\n", strerror(-ret));
		return 1;
	}
	ret = accel_device_info(dev, &di);
	if (!ret)
		ret = accel_pool_create(dev, &o, &pool);
	if (!ret)
		ret = accel_kv_alloc(pool, 4, blocks);
	if (!ret)
		ret = accel_kv_free(pool, 4, blocks);
	if (!ret)
		ret = accel_pool_info(pool, &pi);
	if (!ret)
		printf("backend %s pool %llu bytes %u blocks\n", di.backend,
		       (unsigned long long)pi.size, pi.num_blocks);
	else
		fprintf(stderr, "libaccel: %s\n", strerror(-ret));
	accel_pool_destroy(pool);
	accel_device_close(dev);
	return ret ? 1 : 0;
}
EOF
# shellcheck disable=SC2046,SC2086
$cc -std=c11 -Wall -Werror $san -o "$tmp/prog" "$tmp/prog.c" $(pkg-config --cflags --libs libaccel) \
	2>&1 | sed 's/^/# /'
ok "${PIPESTATUS[0]}" "a program builds with pkg-config's flags only"
readelf -d "$tmp/prog" 2>/dev/null | grep -q 'NEEDED.*\[libaccel\.so\.0\]'
ok $? "it needs libaccel.so.0"
out=$(ACCEL_DEVICE=emu LD_LIBRARY_PATH=$lib "$tmp/prog" 2>&1)
r=$?
[ $r -eq 0 ] && [ "$out" = "backend emu pool 1048576 bytes 16 blocks" ]
ok $? "it runs on the installed library: $out"
ACCEL_DEVICE=emu LD_LIBRARY_PATH=$lib ldd "$tmp/prog" 2>/dev/null | grep -q "libaccel.so.0 => $lib/libaccel.so.0 "
ok $? "the dynamic loader took the installed libaccel.so.0"
"$root/usr/bin/accelctl" --device emu info >/dev/null 2>&1
ok $? "the installed accelctl runs"

mk -s uninstall DESTDIR="$root" prefix=/usr >"$tmp/log" 2>&1
ok $? "make uninstall"
left=$(cd "$root" && find . ! -type d | sort)
[ -z "$left" ]
ok $? "uninstall removed every file install put there"
[ -n "$left" ] && printf '%s\n' "$left" | sed 's/^/# left: /'
echo "1..$n"
[ "$fails" -eq 0 ]
