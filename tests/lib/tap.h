/* SPDX-License-Identifier: MIT */
/*
 * Tiny TAP producer shared by every test program (prove runs them).
 *   plan(n) / plan_skip_all(reason); ok(cond, fmt, ...); is_int(got, want, name);
 *   skip(n, reason); diag(fmt, ...); done_testing() returns the exit code.
 * plan(n) comes before the first test where the count is known, so that an
 * early return shows as missing tests; done_testing() checks the count.
 * A skipped test prints "ok N # SKIP reason": prove counts it as a skip.
 */
#ifndef TAP_H
#define TAP_H

#include <stdbool.h>
#include <stdint.h>

void plan(int n);
void plan_skip_all(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
bool ok_(bool cond, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
bool is_int_(long long got, long long want, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void skip(int n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void bail_out(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
int done_testing(void);
/*
 * Independent references (gguf-py, llama.cpp goldens, the SmolLM2 model)
 * may be absent on a developer's machine, and their tests skip there; CI
 * exports ACCEL_REQUIRE_REFS=1, where such a skip is a failure instead.
 *   tap_refs_required() - ACCEL_REQUIRE_REFS is set to 1
 *   plan_skip_ref(fmt, ...) - plan_skip_all, or "1..1 / not ok 1" and exit 1
 *   skip_ref(n, fmt, ...) - skip(n), or n failing tests saying why
 */
bool tap_refs_required(void);
void plan_skip_ref(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void skip_ref(int n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int tap_failures(void);
/* tap_count - tests printed so far (ok, not ok, skipped): to pad a cut-short path */
int tap_count(void);
/* tap_slurp - a whole file in a malloc'd buffer (NULL on error) */
#include <stddef.h>
void *tap_slurp(const char *path, size_t *size);
/* tap_path - "$ACCEL_TOP/<rel>" (or "./<rel>"), in a static buffer per call slot */
const char *tap_path(const char *rel);

#define ok(cond, ...) ok_(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...) is_int_((long long)(got), (long long)(want), __FILE__, __LINE__, __VA_ARGS__)

#endif /* TAP_H */
