/* See console.h. The answers are built from the embedded bytes on each request (h2o copies them
 * into the request's pool); the files are a few tens of kilobytes and fetched once per visit. */
#include "handlers/console.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"

struct console_route {
    const char *path;
    const char *asset;
    const char *content_type;
};

static const struct console_route ROUTES[] = {
    {"/admin/", "index.html", "text/html; charset=utf-8"},
    {"/admin/console.js", "console.js", "text/javascript; charset=utf-8"},
    {"/admin/console.css", "console.css", "text/css; charset=utf-8"},
};
#define NROUTES (sizeof ROUTES / sizeof ROUTES[0])

/* What each route serves, resolved once at registration. */
static struct console_file {
    const struct console_route *route;
    const struct console_asset *asset;
} files[NROUTES];

static void security_headers(h2o_req_t *req)
{
    http_add_header(req, "content-security-policy", CONSOLE_CSP);
    http_add_header(req, "x-content-type-options", "nosniff");
    http_add_header(req, "referrer-policy", "no-referrer");
    http_add_header(req, "cache-control", "no-store");
}

static int serve_file(void *data, h2o_req_t *req)
{
    const struct console_file *f = data;
    security_headers(req);
    http_send(req, 200, f->route->content_type, f->asset->data, f->asset->len);
    return 0;
}

static int redirect(void *data, h2o_req_t *req)
{
    security_headers(req);
    http_add_header(req, "location", "/admin/");
    http_send(req, 301, "text/plain; charset=utf-8", "", 0);
    return 0;
}

static const struct console_asset *asset_named(const char *name)
{
    for (const struct console_asset *a = console_assets; a->name != NULL; a++)
        if (strcmp(a->name, name) == 0)
            return a;
    return NULL;
}

void console_register(struct http_server *server)
{
    for (size_t i = 0; i < NROUTES; i++) {
        files[i].route = &ROUTES[i];
        files[i].asset = asset_named(ROUTES[i].asset);
        if (files[i].asset == NULL) {
            /* The build embeds every file of handlers/console/: a missing one is a build bug. */
            log_event(LOG_ERROR, "console.asset_missing", "asset=%s", ROUTES[i].asset);
            abort();
        }
        http_server_route(server, "GET", ROUTES[i].path, serve_file, &files[i]);
    }
    http_server_route(server, "GET", "/admin", redirect, NULL);
}
