/* Structured logging: one line per event, `ts=… level=… event=… key=value…`, to stderr.
 * Never pass a secret, signature, preimage or preimage key to these functions. Values containing
 * spaces, quotes or '=' are quoted by log_kv_str(). */
#ifndef FL_LOG_H
#define FL_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Parses "debug" | "info" | "warn" | "error"; returns 0 or -1. */
int log_level_parse(const char *s, enum log_level *out);
void log_set_level(enum log_level lvl);
int log_enabled(enum log_level lvl);

/* log_event(LOG_INFO, "tip.created", "tip_id=%s amount=%lld", ...): fmt carries the key=value pairs. */
void log_event(enum log_level lvl, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes a log-safe rendering of s (at most max bytes of it, quoted when needed, control bytes
 * escaped) into buf; returns buf. For user-supplied values such as ids. */
const char *log_quote(char *buf, size_t bufsz, const char *s, size_t len);

#endif
