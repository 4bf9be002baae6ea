// SPDX-License-Identifier: MIT
/*
 * Cross-check against an independent implementation: gguf-py's numpy
 * quantizers/dequantizers (llama.cpp's Python package). Our scalar
 * quantize_row must produce byte-identical blocks where gguf-py has a
 * quantizer (Q4_0 Q4_1 Q8_0 BF16 F16) and our dequantize must equal its
 * dequantize for every type, also on real tensors of the test models (written
 * by llama.cpp's tools). Runs $ACCEL_PYTHON (the Makefile sets it: build/pyenv
 * from scripts/setup-deps.sh --test, else python3). Skips if it lacks gguf and
 * numpy, fails instead under ACCEL_REQUIRE_REFS=1 (CI).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tap.h"
#include "kn_test.h"

static const char *script =
	"import sys, numpy as np\n"
	"from gguf import quants, GGMLQuantizationType as T\n"
	"d = sys.argv[1]\n"
	"x = np.fromfile(d + '/x.f32', dtype=np.float32)\n"
	"for nm in sys.argv[2:]:\n"
	"    t = T[nm.upper()]\n"
	"    ours = np.fromfile(d + '/' + nm + '.q', dtype=np.uint8)\n"
	"    ourdq = np.fromfile(d + '/' + nm + '.dq', dtype=np.float32)\n"
	"    try:\n"
	"        ref = quants.quantize(x.reshape(1, -1), t).reshape(-1).view(np.uint8)\n"
	"        q = 1 if np.array_equal(ref, ours) else 0\n"
	"    except NotImplementedError:\n"
	"        q = -1\n"
	"    dq = quants.dequantize(ours.reshape(1, -1), t).reshape(-1)\n"
	"    dd = 1 if np.array_equal(dq.astype(np.float32).view(np.uint32), ourdq.view(np.uint32)) else 0\n"
	"    print(nm, q, dd, flush=True)\n";

static int write_file(const char *dir, const char *name, const void *p, size_t n);

/* for each quantized type in a GGUF: its first tensor's bytes and gguf-py's dequantization */
static const char *model_script =
	"import sys, numpy as np\n"
	"from gguf import GGUFReader, quants\n"
	"r = GGUFReader(sys.argv[1])\n"
	"seen = set()\n"
	"for t in r.tensors:\n"
	"    nm = t.tensor_type.name.lower()\n"
	"    if nm in seen or nm in ('f32',):\n"
	"        continue\n"
	"    seen.add(nm)\n"
	"    d = np.asarray(t.data)\n"
	"    d = d.reshape(d.shape[0], -1) if d.ndim > 1 else d.reshape(1, -1)\n"
	"    per = int(t.n_elements) // d.shape[0]\n"
	"    d = d[:max(1, min(d.shape[0], (1 << 20) // per))]\n"
	"    f = '%s/%d' % (sys.argv[2], t.tensor_type.value)\n"
	"    d.reshape(-1).view(np.uint8).tofile(f + '.raw')\n"
	"    quants.dequantize(d, t.tensor_type).astype(np.float32).tofile(f + '.ref')\n"
	"    print(t.tensor_type.value, per * d.shape[0], t.name, flush=True)\n";

static void *read_file(const char *dir, const char *name, size_t n)
{
	char path[512];
	void *buf = malloc(n);
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (!f || !buf || fread(buf, 1, n, f) != n) {
		if (f)
			fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	return buf;
}

static const char *python(void)
{
	const char *p = getenv("ACCEL_PYTHON");

	return p && *p ? p : "python3";
}

/* tests test_model runs, whatever the model holds */
#define MODEL_TESTS 3

/* our dequantization of real llama.cpp-written tensors == gguf-py's */
static void test_model(const char *dir, const char *rel)
{
	const char *model = tap_path(rel);
	char cmd[1024], line[512];
	FILE *p;
	int seen = 0, same = 0;

	if (access(model, R_OK)) {
		skip_ref(MODEL_TESTS, "%s not present", rel);
		return;
	}
	if (write_file(dir, "m.py", model_script, strlen(model_script)))
		bail_out("cannot write to %s", dir);
	snprintf(cmd, sizeof(cmd), "%s %s/m.py %s %s", python(), dir, model, dir);
	p = popen(cmd, "r");
	if (!p)
		bail_out("popen failed");
	while (fgets(line, sizeof(line), p)) {
		unsigned type;
		long long n;
		char tname[256], f[64];

		if (sscanf(line, "%u %lld %255s", &type, &n, tname) != 3)
			continue;
		seen++;
		snprintf(f, sizeof(f), "%u.raw", type);	/* by number: q5_K vs q5_k */
		void *raw = read_file(dir, f, kn_row_size(type, n));
		snprintf(f, sizeof(f), "%u.ref", type);
		float *ref = read_file(dir, f, n * sizeof(float));
		float *ours = malloc(n * sizeof(float));

		if (raw && ref && ours && !kn_dequantize_row(type, raw, ours, n) &&
		    !memcmp(ours, ref, n * sizeof(float)))
			same++;
		diag("%s: %s (%s, %lld elements) dequantizes %s gguf-py", rel, tname,
		     kn_type_name(type), n, same == seen ? "as" : "UNLIKE");
		free(raw);
		free(ref);
		free(ours);
	}
	is_int(pclose(p), 0, "gguf-py read %s", rel);
	ok(seen > 0, "%s has quantized tensors", rel);
	is_int(same, seen, "%s: the first tensor of every quantized type dequantizes as gguf-py "
	       "does", rel);
}

static int write_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[512];
	FILE *f;
	size_t w;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f)
		return -1;
	w = fwrite(p, 1, n, f);
	fclose(f);
	return w == n ? 0 : -1;
}

int main(void)
{
	static const uint32_t types[] = { KN_Q4_0, KN_Q4_1, KN_Q8_0, KN_Q4_K, KN_Q5_K, KN_Q6_K,
					  KN_BF16, KN_F16 };
	enum { NT = sizeof(types) / sizeof(types[0]), N = 256 * 48 };
	char dir[] = "/tmp/kn_ggufpy.XXXXXX", cmd[1024], line[256];
	float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
	int seen = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "%s -c 'import gguf.quants, numpy' >/dev/null 2>&1", python());
	if (system(cmd) != 0)
		plan_skip_ref("%s without gguf-py and numpy (scripts/setup-deps.sh --test)", python());
	/* per type: quantize and dequantize; the script's exit and count; four models */
	plan(2 * NT + 2 + 4 * MODEL_TESTS);
	if (!mkdtemp(dir))
		bail_out("mkdtemp failed");
	kt_seed(2024);
	for (int i = 0; i < N; i++)
		x[i] = kt_normal() * kt_uniform() * 3.0f;
	for (int i = 0; i < N; i += 37)
		x[i] = (float)(int)(x[i] * 8) / 8;	/* exact ties for the rounding rules */
	if (write_file(dir, "x.f32", x, N * sizeof(float)) || write_file(dir, "k.py", script, strlen(script)))
		bail_out("cannot write to %s", dir);
	snprintf(cmd, sizeof(cmd), "%s %s/k.py %s", python(), dir, dir);
	for (int t = 0; t < NT; t++) {
		size_t rs = kn_row_size(types[t], N);
		void *q = malloc(rs);
		char nm[64];

		kn_quantize_row_isa(KN_ISA_SCALAR, types[t], x, q, N);
		kn_dequantize_row_isa(KN_ISA_SCALAR, types[t], q, y, N);
		snprintf(nm, sizeof(nm), "%s.q", kn_type_name(types[t]));
		write_file(dir, nm, q, rs);
		snprintf(nm, sizeof(nm), "%s.dq", kn_type_name(types[t]));
		write_file(dir, nm, y, N * sizeof(float));
		strncat(cmd, " ", sizeof(cmd) - strlen(cmd) - 1);
		strncat(cmd, kn_type_name(types[t]), sizeof(cmd) - strlen(cmd) - 1);
		free(q);
	}
	p = popen(cmd, "r");
	if (!p)
		bail_out("popen failed");
	while (fgets(line, sizeof(line), p)) {
		char nm[32];
		int q, d;

		if (sscanf(line, "%31s %d %d", nm, &q, &d) != 3)
			continue;
		seen++;
		if (q < 0)
			skip(1, "gguf-py has no %s quantizer", nm);
		else
			ok(q == 1, "%s: quantize_row bytes identical to gguf-py", nm);
		ok(d == 1, "%s: dequantize_row bit-identical to gguf-py", nm);
	}
	is_int(pclose(p), 0, "gguf-py script ran");
	is_int(seen, NT, "gguf-py answered for every type");
	test_model(dir, "tests/models/random/tiny-mixtral-random-4x2-q8_0.gguf");
	test_model(dir, "models/SmolLM2-135M-Instruct.Q4_1.gguf");
	test_model(dir, "tests/models/random/small-random-q5_k.gguf");
	test_model(dir, "tests/models/random/small-random-q6_k.gguf");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
	free(x);
	free(y);
	return done_testing();
}
