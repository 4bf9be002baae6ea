# SPDX-License-Identifier: MIT
#
# accelkv top-level build. Userspace only here; the kernel module is built by
# `make module` through Kbuild (see driver/).
#
#   make              build libraries (build/lib) and programs (build/bin);
#                     quiet ("  CC      runtime/src/chat.o"), V=1 for commands
#   make test         build and run every TAP test with prove
#   SANITIZE=1 make test   the same under ASan+UBSan (objects in build/san)
#   make run          fetch SmolLM2-135M-Instruct and answer a prompt
#   make install      tools, libaccel.so, headers, libaccel.pc, man pages
#                     (DESTDIR=, prefix=/usr/local, bindir= libdir= ...);
#                     make uninstall removes them
#   make check-layers each layer's include paths refuse what it may not use
#
# Every directory is picked up by wildcard: a new .c file needs no Makefile
# change. Layout: libaccel/src -> libaccel.a (+ libaccel.so with kernels/),
# kernels/cpu -> libkn.a, runtime/src/** -> libaccelrt.a, tools/lib ->
# libacceltools.a, tools/<name>/*.c -> build/bin/<name>, tests/<suite>/*.c
# -> build/tests/<suite>/<name> (tests/lib is shared code).

CC      ?= cc
ifeq ($(origin CC),default)
CC      := gcc
endif
PKG_CONFIG ?= pkg-config

ifeq ($(SANITIZE),1)
B       := build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
B       := build
SANFLAGS :=
endif

OPT     ?= -O2
DRM_CFLAGS := $(shell $(PKG_CONFIG) --cflags libdrm 2>/dev/null || echo -I/usr/include/libdrm)
CPPFLAGS += -D_GNU_SOURCE
CFLAGS  += -std=gnu11 $(OPT) -g -Wall -Wextra -Werror -Wno-unused-parameter \
	   -fPIC -pthread -MMD -MP $(SANFLAGS)
LDFLAGS += -pthread $(SANFLAGS)
LDLIBS  += -luring -ldrm -lpcre2-8 -lm

# Layers (DESIGN.md, "dependencies point down only"): each compiles with only
# the include paths it may use, so a wrong include is a compile error.
# tests/cli/layers.sh (`make check-layers`) proves it on the real commands.
KN_CPPFLAGS      := -Ikernels/include
ACCEL_CPPFLAGS   := -Ilibaccel/include -Ikernels/include -Iuapi -Ikvcore $(DRM_CFLAGS)
# kvcore/: the KV allocator and prefix index, one source for accelkv.ko and
# libaccel (its environment header picks the host): it may include nothing
KVCORE_CPPFLAGS  :=
RT_CPPFLAGS      := -Iruntime/include -Iruntime/src -Ilibaccel/include
TOOLS_CPPFLAGS   := -Iruntime/include -Ilibaccel/include -Itools/lib -Itools/pipeline
TOOLLIB_CPPFLAGS := -Itools/lib
# accel-bench's `kernels` subcommand is a benchmark of the kernels layer
# itself (bench_kernels.c calls kn_* directly): the one tool allowed kn.h.
BENCH_CPPFLAGS   := $(TOOLS_CPPFLAGS) -Ikernels/include
TEST_CPPFLAGS    := -Iuapi -Ikvcore -Ilibaccel/include -Ikernels/include -Iruntime/include \
		    -Iruntime/src -Itools/lib -Itests/lib -Ikernels/cuda $(DRM_CFLAGS)

# layer_cppflags SOURCE: the include paths of SOURCE's layer
layer_cppflags = $(strip \
	$(if $(filter kernels/%,$(1)),$(KN_CPPFLAGS),\
	$(if $(filter kvcore/%,$(1)),$(KVCORE_CPPFLAGS),\
	$(if $(filter libaccel/%,$(1)),$(ACCEL_CPPFLAGS),\
	$(if $(filter runtime/%,$(1)),$(RT_CPPFLAGS),\
	$(if $(filter tools/lib/%,$(1)),$(TOOLLIB_CPPFLAGS),\
	$(if $(filter tools/accel-bench/%,$(1)),$(BENCH_CPPFLAGS),\
	$(if $(filter tools/%,$(1)),$(TOOLS_CPPFLAGS),\
	$(if $(filter tests/%,$(1)),$(TEST_CPPFLAGS),\
	$(error $(1): no layer in the Makefile's layer_cppflags))))))))))

# Quiet by default, as liburing: "  CC      libaccel/src/queue.o"; V=1 prints
# the full commands, make -s prints nothing.
ifeq ($(V),1)
Q        :=
QUIET_CC  =
QUIET_AR  =
QUIET_LD  =
QUIET_LN  =
msg       =
else ifneq ($(findstring s,$(firstword -$(MAKEFLAGS))),)
Q        := @
QUIET_CC  = @
QUIET_AR  = @
QUIET_LD  = @
QUIET_LN  = @
msg       =
else
Q        := @
QUIET_CC  = @printf '  %-7s %s\n' CC $(patsubst $(B)/obj/%,%,$@);
QUIET_AR  = @printf '  %-7s %s\n' AR $@;
QUIET_LD  = @printf '  %-7s %s\n' LD $@;
QUIET_LN  = @printf '  %-7s %s\n' LN $@;
# $(call msg,WHAT,TEXT): a recipe line of its own (empty with V=1 or -s)
msg       = @printf '  %-7s %s\n' '$(1)' '$(2)'
endif

# Files named *_avx2.c hold the AVX2+FMA versions of kernels; they are chosen
# at run time by CPU feature, so only they get the ISA flags.
AVX2FLAGS := -mavx2 -mfma -mf16c
# *_avx512.c: AVX-512 F/BW/VL + VNNI versions, chosen at run time the same way
AVX512FLAGS := -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx2 -mfma -mf16c

# libaccel includes kvcore's allocator (the emulated device's KV blocks)
ACCEL_SRC := $(wildcard libaccel/src/*.c) $(wildcard kvcore/*.c)
KN_SRC    := $(wildcard kernels/cpu/*.c)
# the runtime groups its sources in subfolders (runtime/src/gguf/, ...)
RT_SRC    := $(wildcard runtime/src/*.c runtime/src/*/*.c runtime/src/*/*/*.c)
TOOLLIB_SRC := $(wildcard tools/lib/*.c)
TLIB_SRC  := $(wildcard tests/lib/*.c)
# tools/<name>/ is a program, except tools/lib (code shared by the tools)
# and tools/pipeline (the MPI pipeline's transport, pp.c: accel-run and
# accel-serve link its objects; MPI stays out of every library)
PP_SRC    := $(wildcard tools/pipeline/*.c)
TOOLS     := $(filter-out lib pipeline,$(notdir $(patsubst %/,%,$(dir $(wildcard tools/*/*.c)))))
TOOLS     := $(sort $(TOOLS))
# uninstall removes every tool, built here or not
ALL_TOOLS := $(TOOLS)
# accel-serve speaks HTTP through libmicrohttpd and JSON through json-c
# (scripts/setup-deps.sh installs them; CI has them): without them it is
# left out of the build with one line saying why, and its test fails where
# ACCEL_REQUIRE_REFS=1 (CI) rather than skip
SERVE_LIBS := $(shell $(PKG_CONFIG) --exists libmicrohttpd json-c 2>/dev/null && \
		$(PKG_CONFIG) --libs libmicrohttpd json-c)
ifeq ($(SERVE_LIBS),)
TOOLS     := $(filter-out accel-serve,$(TOOLS))
ifeq ($(filter clean print-%,$(MAKECMDGOALS)),)
$(info accel-serve: not built: libmicrohttpd-dev and libjson-c-dev are missing (scripts/setup-deps.sh installs them))
endif
endif
# tests/gpu needs a CUDA device: `make cuda` builds it, tests/gpu/run.sh runs it
TEST_SRC  := $(filter-out tests/lib/% tests/fuzz/% tests/gpu/%,$(wildcard tests/*/*.c))

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

LIBACCEL := $(B)/lib/libaccel.a
LIBKN    := $(B)/lib/libkn.a
LIBRT    := $(B)/lib/libaccelrt.a
LIBTEST  := $(B)/lib/libtest.a
LIBTOOLS := $(B)/lib/libacceltools.a
# libaccel.so.$(LIBACCEL_VERSION), soname libaccel.so.0; the minor version
# follows the newest node of libaccel.map (LIBACCEL_0.2)
LIBACCEL_VERSION := 0.2.0
LIBACCEL_SONAME  := libaccel.so.0
LIBACCEL_SO      := $(B)/lib/libaccel.so.$(LIBACCEL_VERSION)
LIBACCEL_LINKS   := $(B)/lib/$(LIBACCEL_SONAME) $(B)/lib/libaccel.so
ACCEL_LDLIBS     := -luring -ldrm -lm
ALL_LIBS := $(LIBRT) $(LIBACCEL) $(LIBKN)

# Open MPI (libopenmpi-dev): the pipeline over ranks (tools/pipeline, and
# the front ends of accel-run and accel-serve over it) is compiled in where
# it is found; without it, both tools under mpirun say so
MPI_CFLAGS := $(shell $(PKG_CONFIG) --cflags ompi-c 2>/dev/null)
MPI_LIBS   := $(shell $(PKG_CONFIG) --libs ompi-c 2>/dev/null)
PP_TOOLS   := $(B)/bin/accel-run $(B)/bin/accel-serve
PP_USERS   := $(PP_SRC) tools/accel-run/pipeline.c tools/accel-serve/pipeline.c
ifneq ($(MPI_LIBS),)
$(call obj,$(PP_USERS)): CPPFLAGS += $(MPI_CFLAGS) -DACCEL_HAVE_MPI
$(PP_TOOLS): LDLIBS += $(MPI_LIBS)
endif

BINS  := $(addprefix $(B)/bin/,$(TOOLS))
TESTS := $(patsubst tests/%.c,$(B)/tests/%,$(TEST_SRC))
# every object `all` builds (tests/cli/build-noop.sh checks they all exist)
ALL_OBJS := $(call obj,$(ACCEL_SRC) $(KN_SRC) $(RT_SRC) $(TOOLLIB_SRC) $(TLIB_SRC) $(TEST_SRC) $(PP_SRC) \
	      $(wildcard $(addsuffix /*.c,$(addprefix tools/,$(TOOLS)))))

.PHONY: all test check-build check-layers run model clean module vmtest vmtest-quick fuzz golden \
	install uninstall cuda

all: $(BINS) $(TESTS) $(LIBACCEL_SO) $(LIBACCEL_LINKS)

$(B)/obj/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	$(QUIET_CC)$(CC) $(call layer_cppflags,$<) $(CPPFLAGS) $(CFLAGS) $(AVX2FLAGS) -c $< -o $@

$(B)/obj/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	$(QUIET_CC)$(CC) $(call layer_cppflags,$<) $(CPPFLAGS) $(CFLAGS) $(AVX512FLAGS) -c $< -o $@

# the CUDA backend's shared math, compiled for the host: no contraction may
# fuse a product the CPU references round on their own (nvcc's side uses __fmul_rn)
$(B)/obj/tests/kernels/test_kn_cuda_quant.o: CFLAGS += -ffp-contract=off

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(QUIET_CC)$(CC) $(call layer_cppflags,$<) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIBACCEL): $(call obj,$(ACCEL_SRC))
$(LIBKN): $(call obj,$(KN_SRC))
$(LIBRT): $(call obj,$(RT_SRC))
$(LIBTEST): $(call obj,$(TLIB_SRC))
$(LIBTOOLS): $(call obj,$(TOOLLIB_SRC))
$(B)/lib/%.a:
	@mkdir -p $(dir $@)
	$(Q)rm -f $@
	$(QUIET_AR)$(AR) rcs $@ $^

# The shared library exports only the public API (symbol version script).
$(LIBACCEL_SO): $(call obj,$(ACCEL_SRC) $(KN_SRC)) libaccel/libaccel.map
	@mkdir -p $(dir $@)
	$(QUIET_LD)$(CC) -shared -Wl,-soname,$(LIBACCEL_SONAME) \
		-Wl,--version-script=libaccel/libaccel.map -Wl,--no-undefined \
		$(LDFLAGS) -o $@ $(call obj,$(ACCEL_SRC) $(KN_SRC)) $(ACCEL_LDLIBS)

# the soname link (what programs load) and the development link (-laccel)
$(B)/lib/$(LIBACCEL_SONAME): $(LIBACCEL_SO)
	$(QUIET_LN)ln -sf $(notdir $<) $@
$(B)/lib/libaccel.so: $(B)/lib/$(LIBACCEL_SONAME)
	$(QUIET_LN)ln -sf $(notdir $<) $@

# Objects are never intermediate files (a second `make` does nothing): each
# program names its objects in an explicit rule, so GNU make neither deletes
# them after a build nor rebuilds them on the next one.
define tool_rule
$(B)/bin/$(1): $(call obj,$(wildcard tools/$(1)/*.c)) $(LIBTOOLS) $(ALL_LIBS)
endef
$(foreach t,$(TOOLS),$(eval $(call tool_rule,$(t))))

$(B)/bin/accel-serve: LDLIBS += $(SERVE_LIBS)
$(filter $(PP_TOOLS),$(BINS)): $(call obj,$(PP_SRC))

$(BINS):
	@mkdir -p $(dir $@)
	$(QUIET_LD)$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIBTOOLS) $(ALL_LIBS) $(LDLIBS)

$(TESTS): $(B)/tests/%: $(B)/obj/tests/%.o $(LIBTEST) $(LIBTOOLS) $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(QUIET_LD)$(CC) $(LDFLAGS) -o $@ $< $(LIBTEST) $(LIBTOOLS) $(ALL_LIBS) $(LDLIBS)

# ---- The GPU emulation (libaccel/gpuemu/): a GPU backend of the same ABI
# with no GPU (device memory, streams and graphs emulated, kernels the CPU
# executor's), so the GPU placements above the kernels (VRAM residency,
# streaming through VRAM slots, their fences) are tested where CI has no CUDA
# device: ACCEL_GPU_LIB=build/lib/libaccel-gpuemu.so.1. Built always.
GPUEMU_SRC := $(wildcard libaccel/gpuemu/*.c)
GPUEMU_CPU := $(addprefix libaccel/src/,cpu_exec.c cpu_dump.c cpu_op_attn.c \
		cpu_op_elementwise.c cpu_op_matmul.c cpu_op_moe.c op_table.c tensor.c dtype.c)
LIBACCEL_GPUEMU := $(B)/lib/libaccel-gpuemu.so.1
$(call obj,$(GPUEMU_SRC)): CPPFLAGS += -Ilibaccel/src
$(LIBACCEL_GPUEMU): $(call obj,$(GPUEMU_SRC) $(GPUEMU_CPU)) $(LIBKN) libaccel/gpuemu/libaccel-gpuemu.map
	@mkdir -p $(dir $@)
	$(QUIET_LD)$(CC) -shared -Wl,-soname,$(notdir $@) \
		-Wl,--version-script=libaccel/gpuemu/libaccel-gpuemu.map -Wl,--no-undefined \
		$(LDFLAGS) -o $@ $(call obj,$(GPUEMU_SRC) $(GPUEMU_CPU)) $(LIBKN) -lm
all: $(LIBACCEL_GPUEMU)

# ---- CUDA (kernels/cuda, libaccel/cuda). Where nvcc is installed, `make`
# (`all`) also builds the GPU backend, build/lib/libaccel-cuda.so.1, that
# libaccel dlopens on --gpu (libaccel/src/gpu_abi.h); elsewhere (CI) it is
# left out and --gpu says so. CUDA=0 leaves it out anyway. `make cuda`
# builds the static archives and the GPU op tests (build/gpu/, run by
# tests/gpu/run.sh on a GPU machine); tests/cli/cuda-build.sh runs it in
# `make test` wherever nvcc exists. SASS for sm_80 (A100), sm_86, sm_89
# (Ada) and sm_90 (H100/H200), PTX of compute_90 for later GPUs.
NVCC       ?= $(or $(shell command -v nvcc 2>/dev/null),$(wildcard /usr/local/cuda/bin/nvcc),nvcc)
CUDA_HOME  ?= $(patsubst %/bin/nvcc,%,$(NVCC))
CUDA_ARCH  ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_86,code=sm_86 \
	      -gencode arch=compute_89,code=sm_89 -gencode arch=compute_90,code=sm_90 \
	      -gencode arch=compute_90,code=compute_90
CUDA       ?= $(if $(shell command -v $(NVCC) 2>/dev/null),1,0)
NVCCFLAGS  ?= -std=c++17 -O3 -g -lineinfo $(CUDA_ARCH) -Werror all-warnings \
	      -Xcompiler -fPIC,-Wall,-Wextra,-Wno-unused-parameter
# NCCL (nccl.h, shipped with the CUDA toolkit): the pipeline's hidden states
# between GPU ranks (tools/pipeline/pp_nccl.c) where it and Open MPI are
# found. Headers only: libnccl.so.2 and libcudart are dlopen'ed by a GPU run,
# so accel-run and accel-serve never need them on a CPU machine. UNTESTED
# (no two-GPU machine here; the runtime has no GPU stages yet): it compiles.
NCCL_H      := $(firstword $(wildcard $(CUDA_HOME)/include/nccl.h /usr/include/nccl.h \
			/usr/local/include/nccl.h))
ifneq ($(and $(NCCL_H),$(MPI_LIBS),$(wildcard $(CUDA_HOME)/include/cuda_runtime.h)),)
$(call obj,tools/pipeline/pp_nccl.c): CPPFLAGS += -I$(dir $(NCCL_H)) -I$(CUDA_HOME)/include \
	-DACCEL_HAVE_NCCL
endif
$(PP_TOOLS): LDLIBS += -ldl

CU_SRC     := $(wildcard kernels/cuda/*.cu)
CU_OBJ     := $(patsubst %.cu,$(B)/obj/%.o,$(CU_SRC))
LIBKN_CUDA := $(B)/lib/libkn_cuda.a
GPU_TEST_SRC := $(wildcard tests/gpu/*.c)
GPU_TESTS  := $(patsubst tests/gpu/%.c,$(B)/gpu/%,$(GPU_TEST_SRC))
# named as targets of `cuda`, so make never deletes them as intermediate files
GPU_TEST_OBJ := $(call obj,$(GPU_TEST_SRC))
CUDA_LDLIBS := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart -lstdc++

# libaccel's memory domains on the GPU (libaccel/cuda/): C over the CUDA
# runtime, with libaccel's include paths plus CUDA's
ACCEL_CUDA_SRC := $(wildcard libaccel/cuda/*.c)
LIBACCEL_CUDA  := $(B)/lib/libaccel_cuda.a

cuda: $(LIBKN_CUDA) $(LIBACCEL_CUDA) $(LIBACCEL_GPU) $(GPU_TEST_OBJ) $(GPU_TESTS)

$(B)/obj/libaccel/cuda/%.o: libaccel/cuda/%.c
	@mkdir -p $(dir $@)
	$(QUIET_CC)$(CC) $(ACCEL_CPPFLAGS) -Ilibaccel/src -Ilibaccel/cuda -I$(CUDA_HOME)/include \
		$(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIBACCEL_CUDA): $(call obj,$(ACCEL_CUDA_SRC))

# The GPU backend libaccel dlopens: libaccel/cuda + kernels/cuda (+ the CPU
# kernels' type tables), CUDA's runtime linked statically (as cuBLAS carries
# its own), so on a GPU machine it needs only the driver and cuBLAS. It
# exports accel_gpu_entry alone (libaccel-cuda.map).
LIBACCEL_GPU_NAME := libaccel-cuda.so.1
LIBACCEL_GPU := $(B)/lib/$(LIBACCEL_GPU_NAME)
GPU_LDLIBS   := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart_static \
		-ldl -lrt -lstdc++ -lm
$(LIBACCEL_GPU): $(call obj,$(ACCEL_CUDA_SRC)) $(CU_OBJ) $(LIBKN) libaccel/cuda/libaccel-cuda.map
	@mkdir -p $(dir $@)
	$(QUIET_LD)$(CC) -shared -Wl,-soname,$(LIBACCEL_GPU_NAME) \
		-Wl,--version-script=libaccel/cuda/libaccel-cuda.map -Wl,--no-undefined \
		$(LDFLAGS) -o $@ $(call obj,$(ACCEL_CUDA_SRC)) $(CU_OBJ) $(LIBKN) $(GPU_LDLIBS)
ifeq ($(CUDA),1)
all: $(LIBACCEL_GPU)
endif

$(B)/obj/kernels/cuda/%.o: kernels/cuda/%.cu
	@mkdir -p $(dir $@)
	$(call msg,NVCC,$(patsubst $(B)/obj/%,%,$@))
	$(Q)$(NVCC) $(KN_CPPFLAGS) -Ikernels/cuda $(NVCCFLAGS) -MMD -MP -c $< -o $@

$(LIBKN_CUDA): $(CU_OBJ)

$(B)/obj/tests/gpu/%.o: tests/gpu/%.c
	@mkdir -p $(dir $@)
	$(QUIET_CC)$(CC) $(TEST_CPPFLAGS) -Itests/kernels -I$(CUDA_HOME)/include $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(B)/gpu/%: $(B)/obj/tests/gpu/%.o $(LIBKN_CUDA) $(LIBTEST) $(LIBKN)
	@mkdir -p $(dir $@)
	$(QUIET_LD)$(CC) $(LDFLAGS) -o $@ $< $(LIBKN_CUDA) $(LIBTEST) $(LIBKN) $(CUDA_LDLIBS) -lm

# ---- install, as liburing: DESTDIR, prefix and the GNU directory variables.
# Installs the tools, libaccel.so (real file, soname and development links),
# libaccel's public headers in $(includedir)/accel, libaccel.pc and the man
# pages. It depends only on what it copies: on a built tree it builds nothing
# (tests/cli/install.sh runs it during make test).
prefix       ?= /usr/local
exec_prefix  ?= $(prefix)
bindir       ?= $(exec_prefix)/bin
libdir       ?= $(exec_prefix)/lib
includedir   ?= $(prefix)/include
datarootdir  ?= $(prefix)/share
mandir       ?= $(datarootdir)/man
pkgconfigdir ?= $(libdir)/pkgconfig
INSTALL      ?= install

ACCEL_HEADERS := $(wildcard libaccel/include/*.h)
MAN1 := $(wildcard man/*.1)
MAN3 := $(wildcard man/*.3)

# the GPU backend where it is built (nvcc present), beside libaccel.so: where
# libaccel looks for it (next to itself, then the linker's path)
INSTALL_GPU := $(if $(filter 1,$(CUDA)),$(LIBACCEL_GPU))
install: $(BINS) $(LIBACCEL_SO) $(INSTALL_GPU) $(ACCEL_HEADERS) libaccel/libaccel.pc.in $(MAN1) $(MAN3)
	$(call msg,INSTALL,$(DESTDIR)$(bindir): $(TOOLS))
	$(Q)$(INSTALL) -d $(DESTDIR)$(bindir)
	$(Q)$(INSTALL) -m 755 $(BINS) $(DESTDIR)$(bindir)
	$(call msg,INSTALL,$(DESTDIR)$(libdir): $(notdir $(LIBACCEL_SO)) $(LIBACCEL_SONAME) libaccel.so)
	$(Q)$(INSTALL) -d $(DESTDIR)$(libdir)
	$(Q)$(INSTALL) -m 755 $(LIBACCEL_SO) $(DESTDIR)$(libdir)
	$(Q)ln -sf $(notdir $(LIBACCEL_SO)) $(DESTDIR)$(libdir)/$(LIBACCEL_SONAME)
	$(Q)ln -sf $(LIBACCEL_SONAME) $(DESTDIR)$(libdir)/libaccel.so
ifneq ($(INSTALL_GPU),)
	$(call msg,INSTALL,$(DESTDIR)$(libdir): $(LIBACCEL_GPU_NAME))
	$(Q)$(INSTALL) -m 755 $(INSTALL_GPU) $(DESTDIR)$(libdir)
endif
	$(call msg,INSTALL,$(DESTDIR)$(includedir)/accel: $(notdir $(ACCEL_HEADERS)))
	$(Q)$(INSTALL) -d $(DESTDIR)$(includedir)/accel
	$(Q)$(INSTALL) -m 644 $(ACCEL_HEADERS) $(DESTDIR)$(includedir)/accel
	$(call msg,INSTALL,$(DESTDIR)$(pkgconfigdir)/libaccel.pc)
	$(Q)$(INSTALL) -d $(DESTDIR)$(pkgconfigdir)
	$(Q)sed -e '/^#/d' -e 's|@prefix@|$(prefix)|' -e 's|@libdir@|$(libdir)|' \
		-e 's|@includedir@|$(includedir)|' -e 's|@version@|$(LIBACCEL_VERSION)|' \
		libaccel/libaccel.pc.in >$(DESTDIR)$(pkgconfigdir)/libaccel.pc
	$(Q)chmod 644 $(DESTDIR)$(pkgconfigdir)/libaccel.pc
	$(call msg,INSTALL,$(DESTDIR)$(mandir): $(notdir $(MAN1) $(MAN3)))
	$(Q)$(INSTALL) -d $(DESTDIR)$(mandir)/man1 $(DESTDIR)$(mandir)/man3
	$(Q)$(INSTALL) -m 644 $(MAN1) $(DESTDIR)$(mandir)/man1
	$(Q)$(INSTALL) -m 644 $(MAN3) $(DESTDIR)$(mandir)/man3

# removes exactly what install put there (and $(includedir)/accel once empty)
uninstall:
	$(Q)rm -f $(addprefix $(DESTDIR)$(bindir)/,$(ALL_TOOLS))
	$(Q)rm -f $(DESTDIR)$(libdir)/$(notdir $(LIBACCEL_SO)) \
		$(DESTDIR)$(libdir)/$(LIBACCEL_SONAME) $(DESTDIR)$(libdir)/libaccel.so \
		$(DESTDIR)$(libdir)/$(LIBACCEL_GPU_NAME)
	$(Q)rm -f $(addprefix $(DESTDIR)$(includedir)/accel/,$(notdir $(ACCEL_HEADERS)))
	$(Q)rmdir $(DESTDIR)$(includedir)/accel 2>/dev/null || true
	$(Q)rm -f $(DESTDIR)$(pkgconfigdir)/libaccel.pc
	$(Q)rm -f $(addprefix $(DESTDIR)$(mandir)/man1/,$(notdir $(MAN1))) \
		$(addprefix $(DESTDIR)$(mandir)/man3/,$(notdir $(MAN3)))

# Tests find the build and the models through these variables.
export ACCEL_BUILD := $(abspath $(B))
export ACCEL_TOP   := $(abspath .)
export ACCEL_SANITIZE := $(SANITIZE)
# the Python that has gguf-py and numpy: scripts/setup-deps.sh --test puts them in
# build/pyenv where the system Python refuses pip (PEP 668); else python3's own
ACCEL_PYTHON ?= $(if $(wildcard build/pyenv/bin/python3),$(abspath build/pyenv/bin/python3),python3)
export ACCEL_PYTHON

test: all
	@scripts/fetch-model.sh --quiet || echo "# SmolLM2 not fetched: its tests will skip"
	prove -j2 --timer --exec '' $$(find $(B)/tests -type f -perm -u+x | sort) $(wildcard tests/cli/*.sh) tests/golden/make-golden.sh

check-build: all

# each layer's include paths refuse the headers it may not use (also in make test)
check-layers:
	@tests/cli/layers.sh

run: 
	@scripts/setup-deps.sh
	@$(MAKE) --no-print-directory all
	@scripts/fetch-model.sh
	$(B)/bin/accel-run -m models/SmolLM2-135M-Instruct.Q4_1.gguf --chat-once \
		-p "$(or $(PROMPT),What is the capital of France? Answer in one sentence.)" -n 64

model:
	scripts/fetch-model.sh

# Kernel module (issue: driver). KDIR may point at any kernel build tree.
KDIR ?= /lib/modules/$(shell uname -r)/build
module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

vmtest vmtest-quick:
	scripts/vmtest.sh $(if $(filter vmtest-quick,$@),--quick)

# libFuzzer + ASan/UBSan on the GGUF reader; FUZZ_SECONDS defaults to 60.
fuzz:
	scripts/fuzz-gguf.sh $(FUZZ_SECONDS)

clean:
	rm -rf build

# `make -s print-VAR` prints a variable (the tests read the build's lists and
# flags this way instead of repeating them).
print-%:
	@printf '%s\n' '$(strip $($*))'

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
