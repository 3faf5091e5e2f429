/* Fuzzes the request path every API call takes first: jsonrpc_parse on raw body bytes, the params
 * helpers on whatever params came out, and serialising an answer that echoes the parsed id. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *strings[] = {"postId", "fromUserId", "message", "invoice", "amount", ""};
    struct jsonrpc_request req;
    struct jsonrpc_param_error perr;
    const char *why = NULL, *s;
    enum api_error e;
    int64_t n;
    int b;
    char *out;

    e = jsonrpc_parse((const char *)data, size, &req, &why);
    if (e != API_ERR_NONE) {
        if (why == NULL || req.id == NULL)
            abort();
        out = jsonrpc_error(req.id, e, why, NULL);
        free(out);
        jsonrpc_request_dispose(&req);
        return 0;
    }
    if (req.method == NULL || req.method[0] == '\0' || !json_is_object(req.params))
        abort();

    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        /* Limits count characters; a character is 1 to 4 bytes of valid UTF-8. */
        if (jsonrpc_param_string(req.params, strings[i], 1, 128, &s, &perr) == 0) {
            size_t len = strlen(s), chars = jsonrpc_utf8_chars(s, len);
            if (chars < 1 || chars > 128 || len > 4 * chars)
                abort();
        } else if (perr.field != strings[i]) {
            abort();
        }
        if (jsonrpc_param_opt_string(req.params, strings[i], 0, 280, &s, &perr) == 0 && s != NULL &&
            jsonrpc_utf8_chars(s, strlen(s)) > 280)
            abort();
    }
    if (jsonrpc_param_opt_int(req.params, "limit", 1, 100, 20, &n, &perr) == 0 &&
        (n < 1 || n > 100))
        abort();
    (void)jsonrpc_param_opt_bool(req.params, "includeAdmin", 0, &b, &perr);

    out = jsonrpc_result(req.id, json_deep_copy(req.params));
    free(out);
    out = jsonrpc_error(req.id, API_ERR_METHOD_NOT_FOUND, NULL,
                        json_pack("{s:s}", "method", req.method));
    free(out);
    jsonrpc_request_dispose(&req);
    return 0;
}
