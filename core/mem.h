/* Allocation that never returns NULL: out of memory aborts the process (a half-handled OOM in a
 * money path is worse than a restart, and every money step is one transaction). */
#ifndef FL_MEM_H
#define FL_MEM_H

#include <stddef.h>

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define FL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define FL_MUST_CHECK __attribute__((warn_unused_result))

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a fresh heap string */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
