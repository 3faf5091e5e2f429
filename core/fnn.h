/* Asynchronous client for the Fiber node's JSON-RPC (../shared/reference/fnn-rpc.md), on libcurl's
 * multi interface driven by the libev loop: no threads, no blocking. The node's host is resolved
 * once at start-up and handed to curl with CURLOPT_RESOLVE, so curl never starts a resolver thread.
 *
 * Framing: {"jsonrpc":"2.0","id":N,"method":M,"params":[{...}]} ("params":[] when none); or, for
 * a node with positional params (CKB, core/ckb_rpc.h), "params":[p1, p2, …] as the caller built it.
 * Every call has a deadline. Completion callbacks always run from the loop, never from inside
 * fnn_call() itself. */
#ifndef FL_FNN_H
#define FL_FNN_H

#include <ev.h>
#include <jansson.h>
#include <stdint.h>

/* The longest invoice description, in bytes, that FNN's new_invoice accepts (it refuses longer
 * ones). A tip's message may be longer in bytes (280 characters of up to 4 bytes each), so the
 * description sent is cut to this at a character boundary; the full message stays in the tip. */
#define FNN_DESCRIPTION_MAX 639

enum fnn_outcome {
    FNN_OK = 0,
    FNN_TRANSIENT, /* timeout, connect failure, HTTP 5xx, -32603, -32000 "busy/unavailable" kinds:
                      retry later */
    FNN_PERMANENT, /* any other JSON-RPC error (-32000 business errors, -32602, -32601, -32999 …) */
};

struct fnn_result {
    enum fnn_outcome outcome;
    json_t *result;      /* borrowed, valid during the callback; NULL unless FNN_OK */
    int rpc_code;        /* JSON-RPC error code, 0 when none (transport errors) */
    const char *message; /* error text (node's message or transport description); "" when FNN_OK */
    long http_status;    /* 0 when no HTTP answer */
};

struct fnn_client;
struct fnn_call;
typedef void (*fnn_cb)(void *ctx, const struct fnn_result *res);

/* url: http://host:port[/path]. token: Biscuit bearer token or NULL. Resolves the host now
 * (blocking, start-up only). Returns NULL with a message in err on failure. */
struct fnn_client *fnn_client_new(struct ev_loop *loop, const char *url, const char *token,
                                  int default_timeout_ms, char *err, size_t errsz);
/* The same for another node on this transport: setting and node name the URL's setting and the
 * node in start-up errors ("ckb_rpc_url", "CKB node"); read during this call only.
 * fnn_client_new is this with "fnn_rpc_url" and "Fiber node". */
struct fnn_client *fnn_client_new_named(struct ev_loop *loop, const char *url, const char *token,
                                        int default_timeout_ms, const char *setting,
                                        const char *node, char *err, size_t errsz);
void fnn_client_free(struct fnn_client *c); /* cancels outstanding calls without callbacks */

/* Starts a call. params: the params object (stolen; NULL → "params":[]). timeout_ms ≤ 0 → the
 * client default. Never returns NULL. */
struct fnn_call *fnn_call(struct fnn_client *c, const char *method, json_t *params, int timeout_ms,
                          fnn_cb cb, void *ctx);
/* Starts a call whose params are sent as given: "params":<params> (a JSON array of positional
 * params, stolen; NULL → []). A JSON-RPC error is not classified: it completes FNN_PERMANENT with
 * rpc_code and message set, and the caller decides what the node meant. Transport failures are
 * classified as for fnn_call. Nothing is logged on failure: the caller logs in its own terms.
 * Otherwise as fnn_call. */
struct fnn_call *fnn_call_positional(struct fnn_client *c, const char *method, json_t *params,
                                     int timeout_ms, fnn_cb cb, void *ctx);
/* The callback will not run; the transfer is aborted. Safe to call only before the callback ran. */
void fnn_call_cancel(struct fnn_call *call);
/* max_connections > 0 caps the TCP connections to the node (curl queues transfers beyond it).
 * max_owned > 0 bounds the calls started on behalf of API requests (those with an owner,
 * core/owner.h) in flight at once; above it a call is not sent and completes FNN_TRANSIENT
 * "too many node calls in flight". Calls without an owner (poller, runner, readiness) are bounded
 * by their modules. */
void fnn_client_set_limits(struct fnn_client *c, int max_connections, unsigned max_owned);
/* Cancels (fnn_call_cancel) every call started under owner; returns how many. */
unsigned fnn_client_cancel_owner(struct fnn_client *c, uint64_t owner);
/* Calls started and not yet completed. */
unsigned fnn_client_inflight(const struct fnn_client *c);

/* Classification used by fnn_call (exposed for tests and fuzzing): given a JSON-RPC error code and
 * message, is it transient? */
enum fnn_outcome fnn_classify_error(int code, const char *message);

/* Decoded invoice (from new_invoice / get_invoice / parse_invoice / cancel_invoice results). */
enum fnn_invoice_status {
    FNN_INV_UNKNOWN = 0,
    FNN_INV_OPEN,
    FNN_INV_CANCELLED,
    FNN_INV_EXPIRED,
    FNN_INV_RECEIVED,
    FNN_INV_PAID,
};
/* A CKB Script (a UDT's type script): from an invoice's udt_script attribute, the molecule table
 * FNN writes there as "0x" hex, or from a Script object {code_hash, hash_type, args} (config,
 * node_info). args_hex is borrowed from the JSON string it was read from: 2 * args_len hex digits
 * of either case, no 0x. */
struct fnn_script {
    uint8_t code_hash[32];
    uint8_t hash_type; /* molecule byte: 0 data, 1 type, 2 data1, 4 data2 */
    size_t args_len;   /* bytes */
    const char *args_hex;
};
/* Decodes "0x" + hex of a molecule Script table (strict: exactly three fields, sizes and offsets
 * consistent, nothing left over). 0 or -1. Pure: fuzzed. */
int fnn_script_decode_molecule(const char *hex, struct fnn_script *out);
/* Reads a Script object {code_hash, hash_type, args}. 0 or -1. */
int fnn_script_from_json(const json_t *script, struct fnn_script *out);
/* 1 when both name the same script (args compared without regard to hex case). */
int fnn_script_equal(const struct fnn_script *a, const struct fnn_script *b);

struct fnn_invoice {
    const char *invoice_address; /* borrowed from the json; NULL for parse_invoice */
    char currency[8];            /* "Fibt" … */
    int has_amount;
    uint64_t amount;       /* base units */
    char payment_hash[67]; /* "0x" + 64 lowercase hex */
    uint64_t timestamp_ms;
    int has_expiry;
    uint64_t expiry_s;              /* seconds (attr expiry_time or ExpiryTime{secs}) */
    enum fnn_invoice_status status; /* UNKNOWN when the result has no status */
    int has_udt;                    /* the invoice is payable in a UDT (udt_script attribute) */
    struct fnn_script udt;          /* that UDT's type script; args borrowed from the json */
};
/* Decodes a result object {"invoice_address"?, "invoice":{...}, "status"?}. Returns 0, or -1 with
 * a description in err for a malformed answer. Pure: fuzzed. */
int fnn_invoice_decode(json_t *result, struct fnn_invoice *out, char *err, size_t errsz);
const char *fnn_invoice_status_name(enum fnn_invoice_status s);
int fnn_invoice_status_parse(const char *s, enum fnn_invoice_status *out);

/* Payment session result (send_payment / get_payment). */
enum fnn_payment_status {
    FNN_PAY_UNKNOWN = 0,
    FNN_PAY_CREATED,
    FNN_PAY_INFLIGHT,
    FNN_PAY_SUCCESS,
    FNN_PAY_FAILED,
};
struct fnn_payment {
    char payment_hash[67];
    enum fnn_payment_status status;
    uint64_t fee;
    uint64_t created_at_ms, last_updated_at_ms;
    const char *failed_error; /* borrowed; NULL when null */
};
int fnn_payment_decode(json_t *result, struct fnn_payment *out, char *err, size_t errsz);

/* Channels (list_channels, fnn-rpc.md section 7): the local balances of the node's channels per
 * asset, what the hub can still pay out over Fiber. A channel funded with no UDT
 * (funding_udt_type_script null) holds CKB; one funded with a UDT holds that UDT. */
struct fnn_channel_totals {
    uint64_t ckb_local;      /* sum of local_balance over the CKB channels, shannons */
    uint64_t udt_local;      /* over the channels of the UDT asked about, its base units */
    unsigned ckb_channels;   /* channels counted in ckb_local */
    unsigned udt_channels;   /* channels counted in udt_local */
    unsigned other_channels; /* channels of another UDT: listed, not counted */
};
/* Sums a list_channels result {channels:[Channel]}: every listed channel but those in state
 * Closed (listed only with include_closed). udt: the UDT whose channels go to udt_local; NULL
 * counts every UDT channel as other. Returns 0, or -1 with a description in err for a malformed
 * answer (a channel without a u128 hex local_balance or with an unreadable script) or a sum beyond
 * 64 bits. Pure: fuzzed. */
int fnn_channels_total(json_t *result, const struct fnn_script *udt, struct fnn_channel_totals *out,
                       char *err, size_t errsz);

/* Hash256 check: "0x" + 64 hex (input may omit 0x per FNN; output form is normalized to
 * lowercase with 0x into out[67]). Returns 0 or -1. */
int fnn_hash256_normalize(const char *s, char out[67]);

#endif
