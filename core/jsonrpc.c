/* JSON-RPC 2.0 envelope checks, params helpers and answer serialisation for the hub's API. The
 * rules here are the first thing every request meets, so they are strict about shape (one object,
 * version "2.0", a method name, bounded nesting) and careful to echo the caller's id whenever it
 * could be read, because the Discourse plugin matches answers to requests by it. */
#include "core/jsonrpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/amount.h"
#include "core/mem.h"

/* 1 when v nests containers deeper than JSONRPC_MAX_DEPTH; depth is the container count on the
 * path from the root, so recursion stops one level past the limit whatever the input. */
static int too_deep(json_t *v, int depth)
{
    if (!json_is_object(v) && !json_is_array(v))
        return 0;
    if (depth > JSONRPC_MAX_DEPTH)
        return 1;
    if (json_is_object(v)) {
        for (void *it = json_object_iter(v); it != NULL; it = json_object_iter_next(v, it))
            if (too_deep(json_object_iter_value(it), depth + 1))
                return 1;
    } else {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (too_deep(json_array_get(v, i), depth + 1))
                return 1;
    }
    return 0;
}

enum api_error jsonrpc_parse(const char *body, size_t len, struct jsonrpc_request *req,
                             const char **why)
{
    json_error_t jerr;
    json_t *v;

    req->root = NULL;
    req->id = json_null();
    req->method = NULL;
    req->params = NULL;

    /* DECODE_ANY so a bare scalar is valid JSON that is not a request (-32600), not a parse
     * error; no DISABLE_EOF_CHECK, so trailing bytes after the value are a parse error. */
    req->root = json_loadb(body, len, JSON_DECODE_ANY, &jerr);
    if (req->root == NULL) {
        if (json_error_code(&jerr) == json_error_stack_overflow) {
            *why = "nesting too deep";
            return API_ERR_INVALID_REQUEST;
        }
        *why = "invalid JSON";
        return API_ERR_PARSE;
    }
    if (!json_is_object(req->root)) {
        *why = json_is_array(req->root) ? "batch requests are not supported"
                                        : "request must be a JSON object";
        return API_ERR_INVALID_REQUEST;
    }

    /* Read the id before anything else can fail, so later refusals can echo it. */
    v = json_object_get(req->root, "id");
    if (v != NULL) {
        if (!json_is_string(v) && !json_is_number(v) && !json_is_null(v)) {
            *why = "id must be a string, a number or null";
            return API_ERR_INVALID_REQUEST;
        }
        req->id = v;
    }

    if (too_deep(req->root, 1)) {
        *why = "nesting too deep";
        return API_ERR_INVALID_REQUEST;
    }

    v = json_object_get(req->root, "jsonrpc");
    if (!json_is_string(v) || strcmp(json_string_value(v), "2.0") != 0) {
        *why = "jsonrpc must be \"2.0\"";
        return API_ERR_INVALID_REQUEST;
    }

    v = json_object_get(req->root, "method");
    if (!json_is_string(v) || json_string_length(v) == 0) {
        *why = "method must be a non-empty string";
        return API_ERR_INVALID_REQUEST;
    }
    req->method = json_string_value(v);

    /* An absent or null params is an empty object, so handlers always get an object; the empty
     * object is stored in root so it is freed with it. */
    v = json_object_get(req->root, "params");
    if (v == NULL || json_is_null(v)) {
        v = json_object();
        if (v == NULL || json_object_set_new(req->root, "params", v) != 0)
            abort();
    } else if (!json_is_object(v)) {
        *why = "params must be an object";
        return API_ERR_INVALID_PARAMS;
    }
    req->params = v;
    *why = NULL;
    return API_ERR_NONE;
}

void jsonrpc_request_dispose(struct jsonrpc_request *req)
{
    json_decref(req->root);
    req->root = NULL;
    req->id = json_null();
    req->method = NULL;
    req->params = NULL;
}

/* The param, or NULL when absent or JSON null ("present" treats null like absent). */
static json_t *param_get(json_t *params, const char *field)
{
    json_t *v = json_is_object(params) ? json_object_get(params, field) : NULL;

    return json_is_null(v) ? NULL : v;
}

static int string_error(const char *field, size_t minlen, size_t maxlen, int optional,
                        struct jsonrpc_param_error *err)
{
    const char *tail = optional ? " or null" : "";

    err->field = field;
    if (minlen == 0)
        snprintf(err->message, sizeof(err->message),
                 "%s must be a string of at most %zu characters%s", field, maxlen, tail);
    else if (minlen == maxlen)
        snprintf(err->message, sizeof(err->message), "%s must be a string of %zu characters%s",
                 field, minlen, tail);
    else
        snprintf(err->message, sizeof(err->message),
                 "%s must be a string of %zu to %zu characters%s", field, minlen, maxlen, tail);
    return -1;
}

static int check_string(json_t *v, const char *field, size_t minlen, size_t maxlen, int optional,
                        const char **out, struct jsonrpc_param_error *err)
{
    size_t n;

    if (!json_is_string(v))
        return string_error(field, minlen, maxlen, optional, err);
    const char *s = json_string_value(v);
    size_t bytes = json_string_length(v);
    /* A NUL inside would silently cut the C string every later step sees (and Postgres text
     * refuses it): refuse it here, by name. */
    if (strlen(s) != bytes) {
        err->field = field;
        snprintf(err->message, sizeof(err->message), "%s must not contain NUL characters", field);
        return -1;
    }
    /* The limits are in characters, as the API states them; jansson holds valid UTF-8. */
    n = jsonrpc_utf8_chars(s, bytes);
    if (n < minlen || n > maxlen)
        return string_error(field, minlen, maxlen, optional, err);
    *out = s;
    return 0;
}

int jsonrpc_param_string(json_t *params, const char *field, size_t minlen, size_t maxlen,
                         const char **out, struct jsonrpc_param_error *err)
{
    return check_string(param_get(params, field), field, minlen, maxlen, 0, out, err);
}

int jsonrpc_param_opt_string(json_t *params, const char *field, size_t minlen, size_t maxlen,
                             const char **out, struct jsonrpc_param_error *err)
{
    json_t *v = param_get(params, field);

    if (v == NULL) {
        *out = NULL;
        return 0;
    }
    return check_string(v, field, minlen, maxlen, 1, out, err);
}

int jsonrpc_param_opt_int(json_t *params, const char *field, int64_t min, int64_t max, int64_t dflt,
                          int64_t *out, struct jsonrpc_param_error *err)
{
    json_t *v = param_get(params, field);
    json_int_t n;

    if (v == NULL) {
        *out = dflt;
        return 0;
    }
    if (!json_is_integer(v))
        goto fail;
    n = json_integer_value(v);
    if (n < min || n > max)
        goto fail;
    *out = n;
    return 0;

fail:
    err->field = field;
    snprintf(err->message, sizeof(err->message), "%s must be an integer from %lld to %lld", field,
             (long long)min, (long long)max);
    return -1;
}

int jsonrpc_param_opt_bool(json_t *params, const char *field, int dflt, int *out,
                           struct jsonrpc_param_error *err)
{
    json_t *v = param_get(params, field);

    if (v == NULL) {
        *out = dflt;
        return 0;
    }
    if (!json_is_boolean(v)) {
        err->field = field;
        snprintf(err->message, sizeof(err->message), "%s must be a boolean", field);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

size_t jsonrpc_utf8_chars(const char *s, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            n++;
    return n;
}

/* Builds {"jsonrpc":"2.0","id":id,<key>:value} (value stolen) and serialises it compactly. */
static char *envelope_dump(json_t *id, const char *key, json_t *value)
{
    json_t *o = json_object();
    char *s;

    if (o == NULL)
        abort();
    json_object_set_new(o, "jsonrpc", json_string("2.0"));
    json_object_set(o, "id", id != NULL ? id : json_null());
    json_object_set_new(o, key, value != NULL ? value : json_null());
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    /* json_dumps fails only on memory exhaustion or a value that cannot be encoded (invalid
     * UTF-8 from a caller); the client still deserves a well-formed answer. */
    if (s == NULL)
        s = xstrdup("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32603,"
                    "\"message\":\"Internal error\"}}");
    return s;
}

char *jsonrpc_result(json_t *id, json_t *result)
{
    return envelope_dump(id, "result", result);
}

char *jsonrpc_error(json_t *id, enum api_error e, const char *message, json_t *data)
{
    json_t *err = json_object();
    json_t *msg = NULL;

    if (err == NULL)
        abort();
    if (message != NULL)
        msg = json_string(message); /* NULL when message is not valid UTF-8 */
    if (msg == NULL)
        msg = json_string(api_error_message(e));
    json_object_set_new(err, "code", json_integer(api_error_code(e)));
    json_object_set_new(err, "message", msg);
    if (data != NULL)
        json_object_set_new(err, "data", data);
    return envelope_dump(id, "error", err);
}

json_t *json_string_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

json_t *amount_json(int64_t v, int decimals)
{
    char buf[48];
    if (v < 0 && v != INT64_MIN) {
        buf[0] = '-';
        if (amount_format(-v, decimals, buf + 1, sizeof buf - 1) < 0)
            return json_null();
        return json_string(buf);
    }
    if (amount_format(v, decimals, buf, sizeof buf) < 0)
        return json_null();
    return json_string(buf);
}
