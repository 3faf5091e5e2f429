/* See errors.h. */
#include "core/errors.h"

static const struct {
    int code;
    const char *message;
} table[API_ERR__COUNT] = {
    [API_ERR_NONE] = {0, "OK"},
    [API_ERR_PARSE] = {-32700, "Parse error"},
    [API_ERR_INVALID_REQUEST] = {-32600, "Invalid Request"},
    [API_ERR_METHOD_NOT_FOUND] = {-32601, "Method not found"},
    [API_ERR_INVALID_PARAMS] = {-32602, "Invalid params"},
    [API_ERR_INTERNAL] = {-32603, "Internal error"},
    [API_ERR_UNAUTHORIZED] = {-32001, "Unauthorized"},
    [API_ERR_FORBIDDEN] = {-32003, "Forbidden"},
    [API_ERR_NOT_FOUND] = {-32004, "Not found"},
    [API_ERR_RATE_LIMITED] = {-32005, "Rate limited"},
    [API_ERR_IDEMPOTENCY] = {-32009, "clientRequestId reused with different params"},
};

int api_error_code(enum api_error e)
{
    return e > API_ERR_NONE && e < API_ERR__COUNT ? table[e].code : -32603;
}

const char *api_error_message(enum api_error e)
{
    return e > API_ERR_NONE && e < API_ERR__COUNT ? table[e].message : "Internal error";
}
