/* SPDX-License-Identifier: MIT */
/*
 * runtime errors: functions return 0 or -errno and leave a one-line message
 * (thread-local) that tools print as it is.
 */
#ifndef RT_ERROR_H
#define RT_ERROR_H

/** rt_set_error - record the message for this thread; returns @err (< 0) */
int rt_set_error(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** rt_last_error - the last message of this thread ("" if none) */
const char *rt_last_error(void);
void rt_clear_error(void);

#endif /* RT_ERROR_H */
