#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
#
# Makes tests/runtime/tokenizer_pre_golden.txt: llama.cpp's own llama_tokenize
# ids for SmolLM2's gpt2 vocabulary re-labelled with each pre-tokenizer we
# support (tokenizer.ggml.pre), so test_tokenizer_pre checks every regex set
# against llama.cpp, not only "smollm". Needs gguf-py (pip install gguf), the
# SmolLM2 model (scripts/fetch-model.sh) and the llama.cpp build of
# tests/golden/make-golden.sh (tests/golden/llama.cpp-build).
#
#   python3 tests/runtime/make_tokenizer_pre_golden.py
import os
import subprocess
import sys
import tempfile

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODEL = "models/SmolLM2-135M-Instruct.Q4_1.gguf"
BUILD = os.path.join(TOP, "tests/golden/llama.cpp-build")
SRC = os.path.join(BUILD, "llama_cpp_python-0.3.36/vendor/llama.cpp")
LIB = os.path.join(BUILD, "build/bin")
OUT = os.path.join(TOP, "tests/runtime/tokenizer_pre_golden.txt")

PRES = ["default", "llama-bpe", "gpt-2", "smollm", "qwen2", "falcon", "tekken",
        "deepseek-coder", "bloom", "viking", "dbrx", "starcoder", "command-r", "stablelm2"]

CASES = [
    "", " ", "  leading spaces", "trailing  ", "Hello world", "hello, World!",
    "12345 3.14159 1,000,000", "x1y22z333w4444", "...!?;:--", "$a+b<c>=d^e~f|g`h",
    "caf\u00e9 na\u00efve Zo\u00eb \u00c5ngstr\u00f6m", "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8",
    "\ud55c\uad6d\uc5b4 \u4e2d\u6587 \u0420\u0443\u0441\u0441\u043a\u0438\u0439 \u0627\u0644\u0639\u0631\u0628\u064a\u0629",
    "I \u2764\ufe0f \U0001f999 \U0001f680 \U0001f44d\U0001f3fd", "\n\n\tTabs\n", "a \n\n b\r\n\r\nc",
    "MiXeD CaSe wOrDs ALLCAPS lowercase", "don't I'M we'll THEY'VE she's it'D",
    "https://example.com/path?q=1&r=two#frag", "def f(x):\n    return x**2\n",
    "<|im_start|>user\nhi<|im_end|>", "x<|endoftext|>y", "a\u00a0b\u2003c\u3000d\u0085e",
    "e\u0301 n\u0303 \u0661\u0662\u0663 \u2167 \u00bd", "word.word,word!word?word",
    "\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c (paren) [sq] {cur}", "   \n   x   ", "a  b   c    d",
    "/usr/bin/env -- --flag=1", "\u0000\u001f\u007f",
]

HELPER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "llama.h"
static void quiet(enum ggml_log_level l, const char *t, void *u) { (void)l; (void)t; (void)u; }
int main(int argc, char **argv) {
	static char line[1 << 16], txt[1 << 15];
	static llama_token ids[1 << 15];
	struct llama_model_params mp;
	struct llama_model *m;
	llama_log_set(quiet, NULL);
	llama_backend_init();
	mp = llama_model_default_params();
	mp.vocab_only = true;
	m = llama_model_load_from_file(argv[1], mp);
	if (!m)
		return 1;
	while (fgets(line, sizeof line, stdin)) {
		int add, ps, k;
		char *sp = strchr(line, ' ');
		size_t n;
		*sp = 0;
		sscanf(sp + 1, "%d %d", &add, &ps);
		n = strlen(line) / 2;
		for (size_t i = 0; i < n; i++) {
			unsigned x;
			sscanf(line + 2 * i, "%2x", &x);
			txt[i] = (char)x;
		}
		k = llama_tokenize(llama_model_get_vocab(m), txt, (int)n, ids, 1 << 15, add, ps);
		printf("ids");
		for (int i = 0; i < k; i++)
			printf(" %d", ids[i]);
		printf("\n");
	}
	return 0;
}
"""


def relabel(src, dst, pre):
    from gguf import GGUFReader, GGUFWriter, GGUFValueType
    r = GGUFReader(src)
    af = r.fields["general.architecture"]
    w = GGUFWriter(dst, bytes(af.parts[af.data[0]]).decode())
    for k, f in r.fields.items():
        if k.startswith("GGUF.") or k == "general.architecture":
            continue
        t = f.types
        if k == "tokenizer.ggml.pre":
            w.add_string(k, pre)
        elif t[0] == GGUFValueType.ARRAY and t[1] == GGUFValueType.STRING:
            w.add_array(k, [bytes(f.parts[i]).decode("utf-8", "surrogateescape") for i in f.data])
        elif t[0] == GGUFValueType.ARRAY:
            w.add_array(k, [f.parts[i].tolist()[0] for i in f.data])
        elif t[0] == GGUFValueType.STRING:
            w.add_string(k, bytes(f.parts[f.data[0]]).decode())
        else:
            w.add_key_value(k, f.parts[f.data[0]].tolist()[0], t[0])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    with tempfile.TemporaryDirectory() as tmp:
        helper = os.path.join(tmp, "tok")
        with open(helper + ".c", "w") as f:
            f.write(HELPER)
        subprocess.run(["cc", "-O1", "-o", helper, helper + ".c", "-I" + SRC + "/include",
                        "-I" + SRC + "/ggml/include", "-L" + LIB, "-lllama",
                        "-Wl,-rpath," + LIB], check=True)
        flags = [(0, 0), (1, 1)]
        lines = ["# made by tests/runtime/make_tokenizer_pre_golden.py with llama.cpp b11312",
                 "# (tests/golden/llama.cpp-build): llama_tokenize on the vocab of",
                 "# model " + MODEL,
                 "# with tokenizer.ggml.pre replaced by the name in each '# pre' line.",
                 "# one case per 3 lines: text <hex> / flags <add_special> <parse_special> / ids"]
        for pre in PRES:
            g = os.path.join(tmp, pre + ".gguf")
            relabel(os.path.join(TOP, MODEL), g, pre)
            inp = "".join(c.encode("utf-8", "surrogatepass").hex() + " %d %d\n" % fl
                          for c in CASES for fl in flags)
            out = subprocess.run([helper, g], input=inp.encode(), capture_output=True,
                                 check=True).stdout.decode().splitlines()
            if len(out) != len(CASES) * len(flags):
                sys.exit("helper failed on pre " + pre)
            lines.append("# pre " + pre)
            k = 0
            for c in CASES:
                for fl in flags:
                    lines.append("text " + c.encode("utf-8", "surrogatepass").hex())
                    lines.append("flags %d %d" % fl)
                    lines.append(out[k])
                    k += 1
        with open(OUT, "w") as f:
            f.write("\n".join(lines) + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
