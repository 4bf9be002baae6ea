// SPDX-License-Identifier: MIT
/* A growing text buffer (tool_text.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "tool_text.h"

int tool_text_append(struct tool_text *t, const char *p, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		size_t cap = (t->len + n + 1) * 2;
		char *b = realloc(t->buf, cap);

		if (!b)
			return -ENOMEM;
		t->buf = b;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, p, n);
	t->len += n;
	t->buf[t->len] = '\0';
	return 0;
}
