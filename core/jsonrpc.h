/* JSON-RPC 2.0 envelope and params validation for the hub's API (API.md). Pure functions over
 * bytes and jansson values: no I/O, so they are unit-tested and fuzzed directly. */
#ifndef FL_JSONRPC_H
#define FL_JSONRPC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/errors.h"

#define JSONRPC_MAX_DEPTH 32 /* deeper bodies are refused as -32600 (bounded recursion) */

struct jsonrpc_request {
    json_t *root;       /* owned; freed by jsonrpc_request_dispose */
    json_t *id;         /* borrowed from root; never NULL: json_null() when absent/invalid */
    const char *method; /* borrowed from root */
    json_t *params;     /* borrowed, always an object (an empty one when absent) */
};

/* Parses and validates one request body.
 * Returns API_ERR_NONE, or:
 *   API_ERR_PARSE            invalid JSON (→ HTTP 400, id null)
 *   API_ERR_INVALID_REQUEST  not an object (arrays/batches included), "jsonrpc" != "2.0",
 *                            method missing/not a non-empty string, id not string/number/null,
 *                            or nesting deeper than JSONRPC_MAX_DEPTH
 *   API_ERR_INVALID_PARAMS   params present but not an object (data field "params")
 * On any error *why is set to a short static text; req->id is set to the request id when it
 * could be read (so the error answer echoes it), else json_null(). On error the caller still
 * calls jsonrpc_request_dispose. */
enum api_error jsonrpc_parse(const char *body, size_t len, struct jsonrpc_request *req,
                             const char **why);
void jsonrpc_request_dispose(struct jsonrpc_request *req);

/* Params helpers. Each returns 0 on success, or -1 after filling *err with a message such as
 * "postId must be a string of 1 to 128 characters"; `field` names the param for error.data.field.
 * A "present" check treats JSON null like absent. */
struct jsonrpc_param_error {
    const char *field;
    char message[160];
};

/* Required string of [minlen, maxlen] characters (UTF-8 code points, as the API states its
 * limits); one holding a NUL is refused too. */
int jsonrpc_param_string(json_t *params, const char *field, size_t minlen, size_t maxlen,
                         const char **out, struct jsonrpc_param_error *err);
/* Optional string or null: *out is NULL when absent or null. */
int jsonrpc_param_opt_string(json_t *params, const char *field, size_t minlen, size_t maxlen,
                             const char **out, struct jsonrpc_param_error *err);
/* Optional integer in [min, max]; *out = dflt when absent or null. */
int jsonrpc_param_opt_int(json_t *params, const char *field, int64_t min, int64_t max,
                          int64_t dflt, int64_t *out, struct jsonrpc_param_error *err);
/* Optional boolean; *out = dflt when absent or null. */
int jsonrpc_param_opt_bool(json_t *params, const char *field, int dflt, int *out,
                           struct jsonrpc_param_error *err);

/* Number of UTF-8 code points in s[0..len) (bytes that are not continuation bytes), for limits
 * stated in characters, such as a tip message's 280 (the helpers above count with it too). */
size_t jsonrpc_utf8_chars(const char *s, size_t len);

/* Serialises a success answer {"jsonrpc":"2.0","id":id,"result":result}. Steals result.
 * Returns a malloc'd NUL-terminated string. */
char *jsonrpc_result(json_t *id, json_t *result);
/* Result-building helpers shared by every handler: a JSON string, or null when s is NULL (an
 * optional column); base units v as a decimal string in whole units ("10.5"), a negative v (a
 * broken ledger, never expected) keeping its sign rather than vanishing from a report, null when
 * v cannot be formatted. */
json_t *json_string_or_null(const char *s);
json_t *amount_json(int64_t v, int decimals);

/* Serialises an error answer. message NULL → the table's message; data may be NULL (stolen). */
char *jsonrpc_error(json_t *id, enum api_error e, const char *message, json_t *data);

#endif
