#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Golden references from llama.cpp (an independent implementation): builds the llama.cpp vendored
# in the llama-cpp-python sdist and regenerates tests/golden/<model>/*.txt with dump.cpp.
# With no argument it only checks, as TAP (prove can run it), that every golden directory
# still matches the sha256 of the model file it was made from; regeneration is manual (--regen).
#
# Goldens depend on the instruction set llama.cpp was built for (its exp, lane orders and
# reductions differ between its AVX2 and AVX-512 builds): tokenize.txt sits in
# tests/golden/<model>/, greedy.txt and logits.txt in tests/golden/<model>/<isa>/ (avx512:
# GGML_NATIVE=ON on an AVX-512 machine; avx2: GGML_NATIVE=OFF, AVX2+FMA+F16C, AVX-512 off).
# GOLDEN_ISA=avx2|avx512 (default avx512) picks the build and the directory written.
#
# usage: tests/golden/make-golden.sh            TAP check of the committed goldens
#        tests/golden/make-golden.sh --regen    download, build llama.cpp, rewrite the goldens
#        tests/golden/make-golden.sh --dump [DIR...]  rewrite the goldens (all, or only the named
#                                               directories) with the existing build
#        tests/golden/make-golden.sh --build    only download and build llama.cpp, if not built yet
#                                               (no golden is rewritten)
#        tests/golden/make-golden.sh --bench    build if needed, run llama-bench on SmolLM2 Q4_1
#        tests/golden/make-golden.sh --kv [DIR...]  the KV_MODELS' goldens at every KV cache
#                                               setting llama.cpp accepts (-ctk/-ctv/-fa) into
#                                               <dir>/<isa>/kv-<K>-<V>-fa<on|off>/ (f16-f16-faon
#                                               of a model with logits: logits-deep.txt too)
# GOLDEN_DUMP=path runs that golden-dump instead of the build's (--kv, --dump); --kv builds it
# from dump.cpp there when dump.cpp is newer.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
GOLD=$TOP/tests/golden
WORK=$GOLD/llama.cpp-build            # git-ignored
PYVER=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
# The sdist's llama.cpp is a shallow clone, so its build number cannot be computed; this is the
# release tag of its commit (0c1e57098), looked up by hand. Update it together with PYVER.
LLAMA_TAG=${LLAMA_TAG:-b11312}
SRC=$WORK/llama_cpp_python-$PYVER/vendor/llama.cpp
ISA=${GOLDEN_ISA:-avx512}
case $ISA in
avx512) BLD=$WORK/build               # accel-bench looks for $BLD/bin/llama-bench
	ISA_FLAGS=(-DGGML_NATIVE=ON)
	ISA_LINE="llama.cpp built with GGML_NATIVE=ON on an AVX-512 (F, BW, VL, VNNI, BF16) machine" ;;
avx2)	BLD=$WORK/build-avx2
	ISA_FLAGS=(-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
		-DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AVX_VNNI=OFF)
	ISA_LINE="llama.cpp built with GGML_NATIVE=OFF, AVX2+FMA+F16C+BMI2, AVX-512 off" ;;
*)	echo "make-golden: GOLDEN_ISA must be avx2 or avx512" >&2; exit 1 ;;
esac
JOBS=${JOBS:-2}
DUMP=${GOLDEN_DUMP:-$BLD/bin/golden-dump}

# the goldens at other KV cache settings: dir | head_dim % 32 == 0 (q8_0 allowed) | only these
# settings (K-V-fa; empty: all). SmolLM2 takes ~90 s a setting: the defaults (f16 f16, flash on),
# f16 without flash, q8_0 both ways, f32 with flash (llama.cpp casts it to F16), q8_0 K without
KV_MODELS=(
	"smollm2-135m-q4_1|q8|f16-f16-faon f16-f16-faoff q8_0-q8_0-faon f32-f32-faon q8_0-f16-faoff"
	"tiny-qwen3-f32|q8"
	"tiny-qwen3moe-q8_0|q8"
	"tiny-llama-dense-f32|"
)
# every -ctk/-ctv/-fa llama.cpp accepts: a quantized V needs flash attention, and q8_0 (block
# 32) a head size it divides; f32/f32/off is the directory <isa>/ itself
kv_combos() {
	local q8=$1 k v fa types=(f32 f16)
	[[ -n $q8 ]] && types+=(q8_0)
	for k in "${types[@]}"; do
		for v in "${types[@]}"; do
			for fa in off on; do
				[[ $k/$v/$fa == f32/f32/off ]] && continue
				[[ $v == q8_0 && $fa == off ]] && continue
				echo "$k $v $fa"
			done
		done
	done
}

# dir | repo-relative model | dump flags
MODELS=(
	"stories260K|tests/models/stories260K.gguf|--logits"
	"tiny-llama-dense-f32|tests/models/random/tiny-llama-random-dense-f32.gguf|--logits"
	"tiny-mixtral-f32|tests/models/random/tiny-mixtral-random-4x2-f32.gguf|--logits"
	"tiny-mixtral-q8_0|tests/models/random/tiny-mixtral-random-4x2-q8_0.gguf|--logits --logits-long"
	"tiny-qwen2-f32|tests/models/random/tiny-qwen2-random-f32.gguf|--logits"
	"tiny-llama3-ropefreqs-f32|tests/models/random/tiny-llama3-ropefreqs-random-f32.gguf|--logits"
	"tiny-llama-ropelinear-f32|tests/models/random/tiny-llama-ropelinear-random-f32.gguf|--logits"
	"tiny-qwen3-f32|tests/models/random/tiny-qwen3-random-f32.gguf|--logits"
	"tiny-qwen3moe-f32|tests/models/random/tiny-qwen3moe-random-f32.gguf|--logits"
	"tiny-qwen3moe-q8_0|tests/models/random/tiny-qwen3moe-random-q8_0.gguf|--logits --logits-long"
	"small-q5_k|tests/models/random/small-random-q5_k.gguf|--logits --logits-long"
	"small-q6_k|tests/models/random/small-random-q6_k.gguf|--logits --logits-long"
	"small-q4_0|tests/models/random/small-random-q4_0.gguf|--logits --logits-long"
	"small-q4_k|tests/models/random/small-random-q4_k.gguf|--logits --logits-long"
	"small-moe-q4_k|tests/models/random/small-moe-random-q4_k.gguf|--logits --logits-long"
	"small-moe-q5_k|tests/models/random/small-moe-random-q5_k.gguf|--logits --logits-long"
	"small-moe-q6_k|tests/models/random/small-moe-random-q6_k.gguf|--logits --logits-long"
	"smollm2-135m-q4_1|models/SmolLM2-135M-Instruct.Q4_1.gguf|--chatml"
)

die() { echo "make-golden: $*" >&2; exit 1; }

check() {
	local n=0 fail=0 d rel hdr sha isa found
	echo "1..${#MODELS[@]}"
	for m in "${MODELS[@]}"; do
		IFS='|' read -r d rel _ <<<"$m"
		n=$((n + 1))
		if [[ ! -s $GOLD/$d/tokenize.txt ]]; then
			echo "not ok $n - $d: tokenize.txt missing"; fail=1; continue
		fi
		if [[ ! -f $TOP/$rel ]]; then
			# CI (ACCEL_REQUIRE_REFS=1) must not pass without the reference
			if [[ ${ACCEL_REQUIRE_REFS:-} == 1 ]]; then
				echo "not ok $n - $d: $rel absent (ACCEL_REQUIRE_REFS=1)"; fail=1
			else
				echo "ok $n # SKIP $rel absent"
			fi
			continue
		fi
		sha=$(sha256sum "$TOP/$rel" | cut -d' ' -f1)
		found=""
		for hdr in "$GOLD/$d"/*/greedy.txt "$GOLD/$d"/*/kv-*/greedy.txt; do
			[[ -s $hdr ]] || continue
			isa=$(dirname "$hdr")
			[[ $isa == */kv-* ]] && isa=$(dirname "$isa")
			isa=$(basename "$isa")
			if [[ $(sed -n 's/^# model_sha256 //p' "$hdr") != "$sha" ]] ||
			   ! grep -q '^prompt_ids ' "$hdr" || ! grep -q "^# isa $isa:" "$hdr"; then
				found="stale:$isa"; break
			fi
			found="$found $isa"
		done
		case $found in
		"") echo "not ok $n - $d: no <isa>/greedy.txt"; fail=1 ;;
		stale:*) echo "not ok $n - $d: ${found#stale:} goldens do not match $rel (rerun --regen)"
			 fail=1 ;;
		*) echo "ok $n - $d goldens ($found ) match $rel" ;;
		esac
	done
	return $fail
}

deps() {
	local need=()
	command -v cmake >/dev/null || need+=(cmake)
	command -v g++ >/dev/null || need+=(g++)
	command -v git >/dev/null || need+=(git)
	if ((${#need[@]})); then
		apt-get update && apt-get install -y "${need[@]}"
	fi
}

fetch() {
	mkdir -p "$WORK"
	if [[ ! -d $SRC ]]; then
		(cd "$WORK" && pip download --no-deps --no-binary :all: "llama-cpp-python==$PYVER" -d .)
		tar -C "$WORK" -xzf "$WORK/llama_cpp_python-$PYVER.tar.gz"
	fi
	[[ -f $SRC/include/llama.h ]] || die "no vendored llama.cpp in $SRC"
}

build() {
	cmake -S "$SRC" -B "$BLD" -DCMAKE_BUILD_TYPE=Release "${ISA_FLAGS[@]}" -DLLAMA_CURL=OFF \
		-DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF \
		-DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF
	# llama-cli needs the server sources in this llama.cpp; llama-completion is the classic CLI.
	cmake --build "$BLD" -j"$JOBS" --target llama llama-simple llama-completion llama-bench
	g++ -O2 -std=c++17 -Wall -Wextra -I"$SRC/include" -I"$SRC/ggml/include" "$GOLD/dump.cpp" \
		-o "$BLD/bin/golden-dump" -L"$BLD/bin" -lllama -lggml -lggml-base \
		-Wl,-rpath,"$BLD/bin"
	g++ -O2 -std=c++17 -Wall -Wextra -I"$SRC/include" -I"$SRC/ggml/include" "$GOLD/tensors.cpp" \
		-o "$BLD/bin/golden-tensors" -L"$BLD/bin" -lllama -lggml -lggml-base \
		-Wl,-rpath,"$BLD/bin"
}

# built: every binary this script and accel-bench use is there
built() {
	local b
	for b in golden-dump golden-tensors llama-bench llama-simple llama-completion; do
		[[ -x $BLD/bin/$b ]] || return 1
	done
}

version() {
	local commit
	commit=$(git -C "$SRC" rev-parse HEAD 2>/dev/null || echo unknown)
	echo "$LLAMA_TAG commit $commit (vendored in llama-cpp-python $PYVER), version $(sed -n \
		's/^set(LLAMA_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\))/\2/p' "$SRC/CMakeLists.txt" |
		paste -sd.), ggml $(sed -n 's/^set(GGML_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\))/\2/p' \
		"$SRC/ggml/CMakeLists.txt" | paste -sd.)"
}

# regen [DIR...]: every model, or only those whose golden directory is named
regen() {
	local ver d rel flags tmp f
	ver=$(version)
	for m in "${MODELS[@]}"; do
		IFS='|' read -r d rel flags <<<"$m"
		if (($#)) && [[ " $* " != *" $d "* ]]; then
			continue
		fi
		if [[ ! -f $TOP/$rel ]]; then
			echo "make-golden: $rel absent, skipping $d (scripts/fetch-model.sh fetches SmolLM2)" >&2
			continue
		fi
		tmp=$(mktemp -d)
		# shellcheck disable=SC2086
		(cd "$TOP" && "$DUMP" "$rel" "$tmp" --label "$rel" --version "$ver" \
			--sha256 "$(sha256sum "$rel" | cut -d' ' -f1)" $flags)
		mkdir -p "$GOLD/$d/$ISA"
		# tokenization does not depend on the ISA: one file, the same from every build
		if [[ -f $GOLD/$d/tokenize.txt ]] && ! cmp -s "$tmp/tokenize.txt" "$GOLD/$d/tokenize.txt"; then
			die "$d: $ISA's tokenize.txt differs from the committed one"
		fi
		mv "$tmp/tokenize.txt" "$GOLD/$d/tokenize.txt"
		for f in greedy.txt logits.txt logits-long.txt; do
			[[ -f $tmp/$f ]] || continue
			sed "2i # isa $ISA: $ISA_LINE" "$tmp/$f" >"$GOLD/$d/$ISA/$f"
		done
		rm -rf "$tmp"
		echo "make-golden: wrote $GOLD/$d/$ISA"
	done
}

# kv [DIR...]: the KV_MODELS (all, or the named ones) at every other KV setting
kv() {
	local ver d q8 only rel flags tmp f k v fa out sha deep
	ver=$(version)
	if [[ ! -x $DUMP || $GOLD/dump.cpp -nt $DUMP ]]; then
		g++ -O2 -std=c++17 -Wall -Wextra -I"$SRC/include" -I"$SRC/ggml/include" "$GOLD/dump.cpp" \
			-o "$DUMP" -L"$BLD/bin" -lllama -lggml -lggml-base -Wl,-rpath,"$BLD/bin"
	fi
	for e in "${KV_MODELS[@]}"; do
		IFS='|' read -r d q8 only <<<"$e"
		if (($#)) && [[ " $* " != *" $d "* ]]; then
			continue
		fi
		for m in "${MODELS[@]}"; do
			[[ ${m%%|*} == "$d" ]] && IFS='|' read -r _ rel flags <<<"$m"
		done
		[[ -f $TOP/$rel ]] || { echo "make-golden: $rel absent, skipping $d" >&2; continue; }
		sha=$(sha256sum "$TOP/$rel" | cut -d' ' -f1)
		while read -r k v fa; do
			[[ -z $only || " $only " == *" $k-$v-fa$fa "* ]] || continue
			tmp=$(mktemp -d)
			# F16 K and V under flash attention: also decode steps past 256 cells, where
			# llama.cpp splits the cells over its threads (small vocabularies only)
			deep=""
			[[ $k-$v-fa$fa == f16-f16-faon && $flags == *--logits* ]] && deep=--logits-deep
			# shellcheck disable=SC2086
			(cd "$TOP" && "$DUMP" "$rel" "$tmp" --label "$rel" --version "$ver" --sha256 "$sha" \
				$flags $deep --type-k "$k" --type-v "$v" --fa "$fa")
			out=$GOLD/$d/$ISA/kv-$k-$v-fa$fa
			mkdir -p "$out"
			for f in greedy.txt logits.txt logits-deep.txt; do
				[[ -f $tmp/$f ]] || continue
				sed "2i # isa $ISA: $ISA_LINE" "$tmp/$f" >"$out/$f"
			done
			rm -rf "$tmp"
			echo "make-golden: wrote $out"
		done < <(kv_combos "$q8")
	done
}

bench() {
	local m=$TOP/models/SmolLM2-135M-Instruct.Q4_1.gguf
	[[ -f $m ]] || die "$m absent (scripts/fetch-model.sh)"
	"$BLD/bin/llama-bench" -m "$m" -t 2 -p 512 -n 128 -r 3
}

case "${1:-}" in
"") check ;;
--regen) deps; fetch; build; regen ;;
--dump) [[ -x $DUMP ]] || die "no $DUMP: run --regen"; shift; regen "$@" ;;
--kv) [[ -d $BLD/bin ]] || die "no $BLD/bin: run --build"; shift; kv "$@" ;;
--build) built || { deps; fetch; build; } ;;
--bench) [[ -x $BLD/bin/llama-bench ]] || { deps; fetch; build; }; bench ;;
*) die "usage: $0 [--regen|--dump [DIR...]|--kv [DIR...]|--build|--bench]" ;;
esac
