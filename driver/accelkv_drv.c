// SPDX-License-Identifier: GPL-2.0-only
/*
 * accelkv: module entry, the DRM driver and its ioctl table, GET_PARAM.
 * The device has no hardware: a platform device parents the drm_device
 * (as vgem does); it is an accel node where the kernel has them (>= 6.2),
 * a render node otherwise. Bring-up and tear-down mirror each other.
 */
#include <linux/dma-mapping.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/platform_device.h>
#include <drm/drm_drv.h>
#include <drm/drm_file.h>
#include <drm/drm_gem.h>
#include <drm/drm_ioctl.h>
#include <drm/drm_prime.h>
#if IS_ENABLED(CONFIG_DRM_ACCEL)
#include <drm/drm_accel.h>
#endif

#include "accelkv.h"
#include "accelkv_check.h"
#include "accelkv_compat.h"
#include "accelkv_debugfs.h"
#include "accelkv_drv.h"
#include "accelkv_pool.h"
#include "accelkv_uring.h"

static unsigned int pinned_limit_mb;
module_param(pinned_limit_mb, uint, 0444);
MODULE_PARM_DESC(pinned_limit_mb,
		 "Cap on bytes pinned by all pools, MiB (0 = half of RAM; read at load)");

static unsigned int max_pool_mb;
module_param(max_pool_mb, uint, 0444);
MODULE_PARM_DESC(max_pool_mb,
		 "Largest pool, MiB (0 = the pinned cap; read at load)");

static bool hugepage = true;
module_param(hugepage, bool, 0444);
MODULE_PARM_DESC(hugepage,
		 "Back ACCELKV_POOL_HUGEPAGE pools with 2 MiB folios when available (default: on)");

static struct accelkv_device *accelkv_adev;

static int accelkv_get_param_ioctl(struct drm_device *drm, void *data,
				   struct drm_file *file)
{
	struct accelkv_device *adev = to_accelkv_dev(drm);
	struct drm_accelkv_get_param *args = data;
	int ret;

	ret = accelkv_check_get_param(args);
	if (ret)
		return ret;
	switch (args->param) {
	case ACCELKV_PARAM_CAPABILITIES:
		args->value = ACCELKV_CAP_POOL | ACCELKV_CAP_KV_BLOCKS |
			ACCELKV_CAP_PREFIX_INDEX | ACCELKV_CAP_SYNCOBJ_TIMELINE |
			ACCELKV_CAP_PRIME | ACCELKV_CAP_URING_LOAD |
			ACCELKV_CAP_URING_STORE | ACCELKV_CAP_URING_SIGNAL |
			ACCELKV_CAP_CROSS_PROCESS | ACCELKV_CAP_PAGE_BLOCKS |
			ACCELKV_CAP_KV_PEEK_EVICT;
		if (adev->hugepage)
			args->value |= ACCELKV_CAP_HUGEPAGE;
		break;
	case ACCELKV_PARAM_API_VERSION:
		args->value = ACCELKV_API_VERSION;
		break;
	case ACCELKV_PARAM_MAX_POOL_SIZE:
		args->value = adev->max_pool_size;
		break;
	case ACCELKV_PARAM_PINNED_BYTES:
		args->value = atomic64_read(&adev->pinned);
		break;
	case ACCELKV_PARAM_PINNED_LIMIT:
		args->value = adev->pinned_limit;
		break;
	case ACCELKV_PARAM_MIN_BLOCK_SIZE:
		args->value = ACCELKV_MIN_BLOCK_SIZE;
		break;
	case ACCELKV_PARAM_MAX_KV_BLOCKS:
		args->value = ACCELKV_MAX_KV_BLOCKS;
		break;
	}
	return 0;
}

static const struct drm_ioctl_desc accelkv_ioctls[] = {
	DRM_IOCTL_DEF_DRV(ACCELKV_GET_PARAM, accelkv_get_param_ioctl, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(ACCELKV_POOL_CREATE, accelkv_pool_create_ioctl, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(ACCELKV_POOL_INFO, accelkv_pool_info_ioctl, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(ACCELKV_POOL_DESTROY, accelkv_pool_destroy_ioctl, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(ACCELKV_KV_ALLOC, accelkv_kv_alloc_ioctl, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(ACCELKV_KV_FREE, accelkv_kv_free_ioctl, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(ACCELKV_KV_REF, accelkv_kv_ref_ioctl, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(ACCELKV_KV_PUBLISH, accelkv_kv_publish_ioctl, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(ACCELKV_KV_LOOKUP, accelkv_kv_lookup_ioctl, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(ACCELKV_KV_PEEK_EVICT, accelkv_kv_peek_evict_ioctl,
			  DRM_RENDER_ALLOW),
};

static const struct file_operations accelkv_fops = {
	.owner = THIS_MODULE,
#if ACCELKV_HAS_ACCEL
	DRM_ACCEL_FOPS,
#else
	DRM_GEM_FOPS,
#endif
	.uring_cmd = accelkv_uring_cmd,
};

static const struct drm_driver accelkv_driver = {
	.driver_features = DRIVER_GEM | DRIVER_SYNCOBJ | DRIVER_SYNCOBJ_TIMELINE |
#if ACCELKV_HAS_ACCEL
			   DRIVER_COMPUTE_ACCEL,
#else
			   DRIVER_RENDER,
#endif
	.ioctls = accelkv_ioctls,
	.num_ioctls = ARRAY_SIZE(accelkv_ioctls),
	.fops = &accelkv_fops,
#ifdef ACCELKV_NEEDS_PRIME_HOOKS
	.prime_handle_to_fd = drm_gem_prime_handle_to_fd,
	.prime_fd_to_handle = drm_gem_prime_fd_to_handle,
	.gem_prime_mmap = drm_gem_prime_mmap,
#endif
	.name = ACCELKV_DRIVER_NAME,
	.desc = ACCELKV_DESC,
	.date = "20261130",
	.major = 1,
	.minor = 0,
};

static void accelkv_limits_init(struct accelkv_device *adev)
{
	u64 ram = (u64)totalram_pages() << PAGE_SHIFT;

	adev->pinned_limit = pinned_limit_mb ? (u64)pinned_limit_mb << 20 : ram / 2;
	adev->max_pool_size = max_pool_mb ? (u64)max_pool_mb << 20 :
					    adev->pinned_limit;
	adev->max_pool_size = min(adev->max_pool_size, adev->pinned_limit);
	adev->max_pool_size = round_down(adev->max_pool_size, ACCELKV_MIN_BLOCK_SIZE);
	adev->hugepage = hugepage;
}

static int __init accelkv_init(void)
{
	struct platform_device *pdev;
	struct accelkv_device *adev;
	int ret;

	ret = accelkv_uring_init();
	if (ret)
		return ret;
	pdev = platform_device_register_simple(ACCELKV_DRIVER_NAME, -1, NULL, 0);
	if (IS_ERR(pdev)) {
		ret = PTR_ERR(pdev);
		goto err_uring;
	}
	if (!devres_open_group(&pdev->dev, NULL, GFP_KERNEL)) {
		ret = -ENOMEM;
		goto err_unregister;
	}
	ret = dma_coerce_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(64));
	if (ret)
		goto err_release;
	adev = devm_drm_dev_alloc(&pdev->dev, &accelkv_driver,
				  struct accelkv_device, drm);
	if (IS_ERR(adev)) {
		ret = PTR_ERR(adev);
		goto err_release;
	}
	adev->pdev = pdev;
	atomic64_set(&adev->pinned, 0);
	mutex_init(&adev->pools_lock);
	INIT_LIST_HEAD(&adev->pools);
	accelkv_limits_init(adev);
	accelkv_pool_mnt_init(adev);

	ret = drm_dev_register(&adev->drm, 0);
	if (ret)
		goto err_mnt;
	accelkv_debugfs_init(adev);
	accelkv_adev = adev;
	drm_info(&adev->drm, "pinned cap %llu MiB, largest pool %llu MiB, huge pages %s\n",
		 adev->pinned_limit >> 20, adev->max_pool_size >> 20,
		 adev->hugepage ? "on" : "off");
	return 0;

err_mnt:
	accelkv_pool_mnt_fini(adev);
	mutex_destroy(&adev->pools_lock);
err_release:
	devres_release_group(&pdev->dev, NULL);
err_unregister:
	platform_device_unregister(pdev);
err_uring:
	accelkv_uring_fini();
	return ret;
}

static void __exit accelkv_exit(void)
{
	struct accelkv_device *adev = accelkv_adev;
	struct platform_device *pdev = adev->pdev;

	accelkv_debugfs_fini(adev);
	drm_dev_unregister(&adev->drm);
	accelkv_pool_mnt_fini(adev);
	mutex_destroy(&adev->pools_lock);
	devres_release_group(&pdev->dev, NULL);
	platform_device_unregister(pdev);
	accelkv_uring_fini();
}

module_init(accelkv_init);
module_exit(accelkv_exit);

MODULE_DESCRIPTION("accelkv: " ACCELKV_DESC);
MODULE_LICENSE("GPL");
