/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * accelkv: io_uring passthrough on the device file (LOAD, STORE, SIGNAL).
 */
#ifndef _ACCELKV_URING_H_
#define _ACCELKV_URING_H_

struct io_uring_cmd;

int accelkv_uring_init(void);
void accelkv_uring_fini(void);
int accelkv_uring_cmd(struct io_uring_cmd *ioucmd, unsigned int issue_flags);

#endif /* _ACCELKV_URING_H_ */
