// SPDX-License-Identifier: MIT
/*
 * accel_gpu_*: find, load and attach the GPU backend (libaccel-cuda.so.1,
 * gpu_abi.h) to a device. The object is loaded once per process with
 * dlopen, only when a program asks for a GPU, so nothing else in libaccel
 * (or a CPU-only machine) ever needs CUDA. Every failure is one line for the
 * caller to print: the object is missing, does not load (its CUDA libraries
 * are missing), speaks another ABI, or finds no usable device.
 */
#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "gpu.h"

/* the object, loaded once: protected by gpu_lib_lock */
static pthread_mutex_t gpu_lib_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct accel_gpu_ops *gpu_lib_ops;
static char gpu_lib_path[512];

static void accel_gpu_host_log(int level, const char *msg)
{
	accel_log((enum accel_log_level)level, "gpu: %s", msg);
}

static const struct accel_gpu_host accel_gpu_host = {
	.abi_version = ACCEL_GPU_ABI_VERSION,
	.size = sizeof(struct accel_gpu_host),
	.log = accel_gpu_host_log,
	.fence_signal = accel_fence_signal,
};

static void why_set(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void why_set(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

/*
 * The candidates, in order: $ACCEL_GPU_LIB alone when set (a bundle, or a
 * test hiding the object); else beside the code that holds libaccel (the
 * directory of libaccel.so, or of a program linked statically) and in its
 * ../lib (build/bin -> build/lib, /usr/bin -> /usr/lib); else the dynamic
 * linker's search path (an installed libdir).
 */
static int accel_gpu_candidates(char paths[3][512], char *where, size_t where_len)
{
	const char *env = getenv("ACCEL_GPU_LIB");
	Dl_info info;
	int n = 0;

	if (env && *env) {
		snprintf(paths[0], sizeof(paths[0]), "%s", env);
		snprintf(where, where_len, "%s (ACCEL_GPU_LIB)", env);
		return 1;
	}
	if (dladdr((void *)accel_gpu_attach, &info) && info.dli_fname && *info.dli_fname) {
		char self[512], *dir;

		snprintf(self, sizeof(self), "%s", info.dli_fname);
		dir = dirname(self);
		snprintf(paths[n++], sizeof(paths[0]), "%s/%s", dir, ACCEL_GPU_LIB_NAME);
		snprintf(paths[n++], sizeof(paths[0]), "%s/../lib/%s", dir, ACCEL_GPU_LIB_NAME);
		snprintf(where, where_len, "%s, %s/../lib or the library path", dir, dir);
	} else {
		snprintf(where, where_len, "the library path");
	}
	snprintf(paths[n++], sizeof(paths[0]), "%s", ACCEL_GPU_LIB_NAME);
	return n;
}

/* load the object (once); 0 or -errno with one line in @why */
static int accel_gpu_lib_load(char *why, size_t why_len)
{
	char paths[3][512], where[1200];
	const struct accel_gpu_ops *ops;
	accel_gpu_entry_fn entry;
	void *dl = NULL;
	int n, ret = 0;

	pthread_mutex_lock(&gpu_lib_lock);
	if (gpu_lib_ops)
		goto out;
	n = accel_gpu_candidates(paths, where, sizeof(where));
	for (int i = 0; i < n && !dl; i++) {
		/* a bare name goes to the dynamic linker's search; a path that is
		 * not there is skipped, one that is there and fails is the error */
		if (strchr(paths[i], '/') && access(paths[i], F_OK))
			continue;
		/* NODELETE: CUDA's runtime does not survive being unloaded */
		dl = dlopen(paths[i], RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
		if (!dl && strchr(paths[i], '/')) {
			why_set(why, why_len, "cannot load the CUDA backend %s: %s", paths[i],
				dlerror());
			ret = -ELIBBAD;
			goto out;
		}
		if (dl)
			snprintf(gpu_lib_path, sizeof(gpu_lib_path), "%.*s", (int)sizeof(gpu_lib_path) - 1,
				 paths[i]);
	}
	if (!dl) {
		why_set(why, why_len, "no CUDA backend: %s not found in %s (make builds it where "
			"nvcc is installed)", ACCEL_GPU_LIB_NAME, where);
		ret = -ENOENT;
		goto out;
	}
	entry = (accel_gpu_entry_fn)dlsym(dl, ACCEL_GPU_ENTRY);
	ops = entry ? entry(ACCEL_GPU_ABI_VERSION) : NULL;
	if (!ops || ops->abi_version != ACCEL_GPU_ABI_VERSION ||
	    ops->size < sizeof(struct accel_gpu_ops) || !ops->open || !ops->close ||
	    !ops->info || !ops->mem_alloc || !ops->mem_free || !ops->host_register ||
	    !ops->host_unregister || !ops->copy || !ops->after || !ops->signal || !ops->sync ||
	    !ops->check || !ops->exec) {
		why_set(why, why_len, "%s is not a GPU backend of ABI version %d%s", gpu_lib_path,
			ACCEL_GPU_ABI_VERSION, entry ? "" : " (no " ACCEL_GPU_ENTRY ")");
		dlclose(dl);
		ret = -ELIBBAD;
		goto out;
	}
	gpu_lib_ops = ops;
out:
	pthread_mutex_unlock(&gpu_lib_lock);
	return ret;
}

int accel_gpu_attach(struct accel_device *dev, int ordinal, char *why, size_t why_len)
{
	struct accel_gpu_dev *g;
	char line[400] = "";
	int ret;

	if (why && why_len)
		why[0] = '\0';
	if (!dev || ordinal < 0) {
		why_set(why, why_len, "invalid device or GPU ordinal %d", ordinal);
		return -EINVAL;
	}
	if (dev->gpu) {
		why_set(why, why_len, "a GPU is attached to this device already");
		return -EBUSY;
	}
	ret = accel_gpu_lib_load(why, why_len);
	if (ret)
		return ret;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->ops = gpu_lib_ops;
	g->ordinal = ordinal;
	ret = g->ops->open(&accel_gpu_host, ordinal, &g->gpu, line, sizeof(line));
	if (ret) {
		why_set(why, why_len, "%s", line[0] ? line : strerror(-ret));
		free(g);
		return ret < 0 ? ret : -EIO;
	}
	ret = g->ops->info(g->gpu, &g->info);
	if (ret) {
		why_set(why, why_len, "GPU %d: cannot read its properties: %s", ordinal,
			strerror(-ret));
		g->ops->close(g->gpu);
		free(g);
		return ret;
	}
	snprintf(g->lib, sizeof(g->lib), "%s", gpu_lib_path);
	pthread_mutex_lock(&dev->lock);
	dev->gpu = g;
	pthread_mutex_unlock(&dev->lock);
	accel_info("gpu %d: %s (sm_%u%u, %llu MiB) through %s", ordinal, g->info.name,
		   g->info.cc_major, g->info.cc_minor,
		   (unsigned long long)(g->info.mem_total >> 20), g->lib);
	return 0;
}

int accel_gpu_props(struct accel_device *dev, struct accel_gpu_props *p)
{
	struct accel_gpu_dev *g;
	int ret;

	if (!dev || !p)
		return -EINVAL;
	g = dev->gpu;
	if (!g)
		return -ENODEV;
	ret = g->ops->info(g->gpu, &g->info);	/* free memory changes */
	if (ret)
		return ret;
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", g->info.name);
	snprintf(p->lib, sizeof(p->lib), "%s", g->lib);
	p->ordinal = (uint32_t)g->ordinal;
	p->cc_major = g->info.cc_major;
	p->cc_minor = g->info.cc_minor;
	p->mem_total = g->info.mem_total;
	p->mem_free = g->info.mem_free;
	p->mem_bw = g->info.mem_bw;
	p->runtime_version = g->info.runtime_version;
	p->driver_version = g->info.driver_version;
	return 0;
}

void accel_gpu_detach(struct accel_device *dev)
{
	struct accel_gpu_dev *g = dev->gpu;

	if (!g)
		return;
	g->ops->close(g->gpu);
	dev->gpu = NULL;
	free(g);
}
