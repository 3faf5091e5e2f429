/* The operator console (API.md "Admin API", docs/admin.md "Console"): a static page, script and
 * stylesheet (handlers/console/) that drive POST /admin/rpc from a browser with a token typed into
 * the page. They are compiled into the binary (cmake/embed_files.cmake), so the daemon serves
 * them from any working directory and never from the file system.
 *
 *   GET /admin/            index.html      text/html
 *   GET /admin/console.js  console.js      text/javascript
 *   GET /admin/console.css console.css     text/css
 *   GET /admin             301 → /admin/
 *
 * Every answer carries the same security headers: a Content-Security-Policy that allows only the
 * daemon's own script, style and fetch() target (no inline script or style, no framing, no
 * <base>, forms post only to the page's origin), X-Content-Type-Options: nosniff,
 * Referrer-Policy: no-referrer and Cache-Control: no-store. Any other path under /admin/ is the
 * route table's 404. The page holds no secret: everything it shows comes from /admin/rpc, which
 * checks the token on every call. */
#ifndef FL_HANDLERS_CONSOLE_H
#define FL_HANDLERS_CONSOLE_H

#include <stddef.h>

#include "core/http.h"

#define CONSOLE_CSP                                                                                \
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

/* One embedded file: name is its file name in handlers/console/, data is NUL-terminated (len
 * excludes the NUL). The generated table ends with a {NULL, NULL, 0} entry. */
struct console_asset {
    const char *name;
    const char *data;
    size_t len;
};
extern const struct console_asset console_assets[];

/* Adds the console's routes to server (before http_server_start). */
void console_register(struct http_server *server);

#endif
