/* The one table of API errors: each error kind maps to its JSON-RPC code and default message, so
 * handlers never spell a code twice and the wire contract (API.md "Errors") cannot drift. */
#ifndef FL_ERRORS_H
#define FL_ERRORS_H

enum api_error {
    API_ERR_NONE = 0,
    API_ERR_PARSE,           /* -32700 Parse error (invalid JSON), HTTP 400 */
    API_ERR_INVALID_REQUEST, /* -32600 Invalid Request */
    API_ERR_METHOD_NOT_FOUND,/* -32601 Method not found */
    API_ERR_INVALID_PARAMS,  /* -32602 Invalid params (also policy/balance refusals) */
    API_ERR_INTERNAL,        /* -32603 Internal error */
    API_ERR_UNAUTHORIZED,    /* -32001 Unauthorized */
    API_ERR_FORBIDDEN,       /* -32003 Forbidden (admin API: outside the token's role) */
    API_ERR_NOT_FOUND,       /* -32004 Not found */
    API_ERR_RATE_LIMITED,    /* -32005 Rate limited */
    API_ERR_IDEMPOTENCY,     /* -32009 clientRequestId reused with different params */
    API_ERR__COUNT
};

int api_error_code(enum api_error e);
const char *api_error_message(enum api_error e);

#endif
