/* FNN method behaviour for the simulator (see sim_rpc.h and ../../../shared/reference/fnn-rpc.md
 * sections 4 to 6 and 9). Error texts follow FNN: business errors are -32000 with the request's
 * params object echoed in data; deserialisation failures are jsonrpsee's -32602 "Invalid params"
 * with serde's text in data. */
#include "tests/fnn_sim/sim_rpc.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/amount.h"
#include "core/crypto.h"
#include "core/mem.h"
#include "tests/fnn_sim/sim_blake2b.h"

#define PAY_PREFIX "InvalidParameter: "

/* Testnet RUSD from a public FNN testnet configuration (fnn-rpc.md section 4). */
#define RUSD_CODE_HASH "0x1142755a044bf2ee358cba9f2da187ce928c91cd4dc8692ded0337efa677d21a"
#define RUSD_ARGS "0x878fcc6f1f08d48e87bb1c3b3d5083f23f8a39c5d5c764f253b55b998526439b"

static const char *const chain_hashes[] = {
    "0x92b197aa1fba0f63633922c61c92375c9c074a93e85963554f5499fe1450d0e5", /* CKB mainnet */
    "0x10639e0895502b5688a6be8cf69460d76541bfa4821629d86d62ba0aae3f9606", /* CKB testnet */
    "0x823b2ff5785b12da8b1363cac9a5cbe566d8b715a4311441b119c39a0367488c", /* a devnet */
};

/* ---- errors ---- */

static int fail_params(struct sim_rpc_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int fail_params(struct sim_rpc_error *err, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    err->code = -32602;
    snprintf(err->message, sizeof err->message, "Invalid params");
    err->data = json_string(text);
    return -1;
}

/* A -32000 business error echoing the params object, like FNN's rpc_error(msg, params). */
static int fail_call(struct sim_rpc_error *err, json_t *obj, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_call(struct sim_rpc_error *err, json_t *obj, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    err->code = -32000;
    err->data = obj != NULL ? json_deep_copy(obj) : NULL;
    return -1;
}

/* send_payment's validation wrapper. */
static int fail_validate(struct sim_rpc_error *err, json_t *obj, const char *reason)
{
    return fail_call(err, obj, PAY_PREFIX "Failed to validate payment request: \"%s\"", reason);
}

/* ---- params ---- */

static const char *json_type_name(json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "map";
    case JSON_ARRAY:
        return "sequence";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "floating point";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

int sim_rpc_params_object(json_t *params, int allow_empty, json_t **obj, struct sim_rpc_error *err)
{
    static json_t *empty;
    if (empty == NULL)
        empty = json_object();
    if (params == NULL || (json_is_array(params) && json_array_size(params) == 0)) {
        if (allow_empty) {
            *obj = empty;
            return 0;
        }
        return fail_params(err, "invalid length 0, expected one element");
    }
    if (!json_is_array(params))
        return fail_params(err, "invalid type: %s, expected positional params [{...}]",
                           json_type_name(params));
    json_t *first = json_array_get(params, 0);
    if (json_array_size(params) != 1 || !json_is_object(first))
        return fail_params(err, "invalid type: %s, expected a params object in a one-element list",
                           json_type_name(json_array_size(params) != 1 ? params : first));
    *obj = first;
    return 0;
}

/* FNN's uint_as_hex rules: "0x" prefix, no redundant leading zero, digits either case. */
static int parse_uint_hex(const char *s, uint64_t *out, struct sim_rpc_error *err)
{
    size_t len = strlen(s);
    if (len < 3 || s[0] != '0' || s[1] != 'x')
        return fail_params(err, "uint hex string does not start with 0x: %s", s);
    if (len > 3 && s[2] == '0')
        return fail_params(err, "uint hex string starts with redundant leading zeros: %s", s);
    uint64_t v = 0;
    for (size_t i = 2; i < len; i++) {
        if (!isxdigit((unsigned char)s[i]))
            return fail_params(
                err, "failed to parse uint hex %s: ParseIntError { kind: InvalidDigit }", s);
        if (v >> 60)
            return fail_params(
                err, "failed to parse uint hex %s: ParseIntError { kind: PosOverflow }", s);
        int d = isdigit((unsigned char)s[i]) ? s[i] - '0' : tolower((unsigned char)s[i]) - 'a' + 10;
        v = (v << 4) | (uint64_t)d;
    }
    *out = v;
    return 0;
}

int sim_rpc_uint(json_t *obj, const char *field, int required, int lenient, uint64_t *out,
                 struct sim_rpc_error *err)
{
    json_t *v = json_object_get(obj, field);
    if (v == NULL || json_is_null(v)) {
        if (required)
            return fail_params(err, "missing field `%s`", field);
        return 0;
    }
    if (lenient && json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (uint64_t)json_integer_value(v);
        return 1;
    }
    if (!json_is_string(v))
        return fail_params(err, "invalid type: %s, expected a 0x-prefixed hex string for `%s`",
                           json_type_name(v), field);
    if (parse_uint_hex(json_string_value(v), out, err) < 0)
        return -1;
    return 1;
}

/* Hash256 (and preimages): optional 0x, exactly 32 bytes of hex. */
static int get_hash(json_t *obj, const char *field, int required, uint8_t out[32],
                    struct sim_rpc_error *err)
{
    json_t *v = json_object_get(obj, field);
    if (v == NULL || json_is_null(v)) {
        if (required)
            return fail_params(err, "missing field `%s`", field);
        return 0;
    }
    if (!json_is_string(v))
        return fail_params(err, "invalid type: %s, expected a string", json_type_name(v));
    const char *s = json_string_value(v);
    const char *h = (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) ? s + 2 : s;
    size_t len = strlen(h);
    if (len % 2 != 0)
        return fail_params(err, "failed to decode hex string %s: OddLength", s);
    for (size_t i = 0; i < len; i++) {
        if (!isxdigit((unsigned char)h[i]))
            return fail_params(
                err, "failed to decode hex string %s: InvalidHexCharacter { c: '%c', index: %zu }",
                s, h[i], i);
    }
    if (len != 64)
        return fail_params(
            err, "failed to convert vector into type: invalid length %zu, expected 32 bytes",
            len / 2);
    hex_decode(h, 64, out, 32);
    return 1;
}

static int get_string(json_t *obj, const char *field, int required, const char **out,
                      struct sim_rpc_error *err)
{
    json_t *v = json_object_get(obj, field);
    if (v == NULL || json_is_null(v)) {
        if (required)
            return fail_params(err, "missing field `%s`", field);
        *out = NULL;
        return 0;
    }
    if (!json_is_string(v))
        return fail_params(err, "invalid type: %s, expected a string", json_type_name(v));
    *out = json_string_value(v);
    return 1;
}

static int get_bool(json_t *obj, const char *field, int *out, struct sim_rpc_error *err)
{
    json_t *v = json_object_get(obj, field);
    *out = 0;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return fail_params(err, "invalid type: %s, expected a boolean", json_type_name(v));
    *out = json_is_true(v);
    return 1;
}

static int get_currency(json_t *obj, enum sim_currency *out, struct sim_rpc_error *err)
{
    const char *s = NULL;
    int r = get_string(obj, "currency", 1, &s, err);
    if (r < 0)
        return -1;
    if (sim_currency_parse(s, out) < 0)
        return fail_params(err, "unknown variant `%s`, expected one of `Fibb`, `Fibt`, `Fibd`", s);
    return 0;
}

/* A ckb Script object {code_hash, hash_type, args}. */
static int get_script(json_t *obj, const char *field, int *present, struct sim_udt *out,
                      struct sim_rpc_error *err)
{
    json_t *v = json_object_get(obj, field);
    *present = 0;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return fail_params(err, "invalid type: %s, expected struct Script", json_type_name(v));
    uint8_t code_hash[32];
    if (get_hash(v, "code_hash", 1, code_hash, err) < 0)
        return -1;
    const char *ht = NULL, *args = NULL;
    if (get_string(v, "hash_type", 1, &ht, err) < 0 || get_string(v, "args", 1, &args, err) < 0)
        return -1;
    static const struct {
        const char *name;
        uint8_t byte;
    } types[] = {{"data", 0}, {"type", 1}, {"data1", 2}, {"data2", 4}};
    int found = -1;
    for (int i = 0; i < 4; i++) {
        if (strcmp(ht, types[i].name) == 0)
            found = i;
    }
    if (found < 0)
        return fail_params(
            err, "unknown variant `%s`, expected one of `data`, `type`, `data1`, `data2`", ht);
    if (strncmp(args, "0x", 2) != 0)
        return fail_params(err, "Invalid Bytes: the string does not start with 0x");
    size_t alen = strlen(args + 2);
    if (alen % 2 != 0 || alen / 2 > SIM_MAX_UDT_ARGS ||
        hex_decode(args + 2, alen, out->args, alen / 2) < 0)
        return fail_params(err, "Invalid Bytes: %s", args);
    memcpy(out->code_hash, code_hash, 32);
    out->hash_type = types[found].byte;
    out->args_len = alen / 2;
    *present = 1;
    return 0;
}

static void hex256(const uint8_t h[32], char out[67])
{
    out[0] = '0';
    out[1] = 'x';
    hex_encode(h, 32, out + 2);
}

static void hash_preimage(enum sim_hash_alg alg, const uint8_t preimage[32], uint8_t out[32])
{
    if (alg == SIM_HASH_SHA256)
        crypto_sha256(preimage, 32, out);
    else
        sim_ckb_hash(preimage, 32, out);
}

/* ---- result shapes ---- */

static json_t *invoice_result(struct sim_store *s, struct sim_invoice *inv, int with_status)
{
    json_t *r = json_pack("{s:s, s:o}", "invoice_address", inv->address, "invoice",
                          sim_invoice_json(&inv->d));
    if (with_status)
        json_object_set_new(r, "status",
                            json_string(sim_inv_status_name(sim_invoice_status(s, inv))));
    return r;
}

static json_t *payment_result(const struct sim_payment *p)
{
    char hash[67], created[24], updated[24], fee[24];
    hex256(p->payment_hash, hash);
    u128hex_encode(p->created_at_ms, created);
    u128hex_encode(p->last_updated_at_ms, updated);
    u128hex_encode(p->fee, fee);
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:n}", "payment_hash", hash, "status",
                     sim_pay_status_name(p->status), "created_at", created, "last_updated_at",
                     updated, "failed_error",
                     p->failed_error != NULL ? json_string(p->failed_error) : json_null(), "fee",
                     fee, "custom_records");
}

/* ---- FNN methods ---- */

static int channel_state_index(const char *name);
#define CHANNEL_PENDING_STATES 5 /* NegotiatingFunding … AwaitingChannelReady */

static int m_node_info(struct sim_store *s, json_t *params, json_t **res, struct sim_rpc_error *err)
{
    if (params != NULL && (!json_is_array(params) || json_array_size(params) != 0))
        return fail_params(err, "invalid length %zu, expected zero elements",
                           json_is_array(params) ? json_array_size(params) : 1);
    const char *pub = sim_node_pubkey(SIM_NODE_LOCAL);
    char addr[160], ready[24], pending[24];
    uint64_t nready = 0, npending = 0;
    for (size_t i = 0; i < sim_store_channel_count(s); i++) {
        int st = channel_state_index(sim_store_channel_at(s, i)->state);
        npending += st < CHANNEL_PENDING_STATES;
        nready += st == CHANNEL_PENDING_STATES;
    }
    u128hex_encode(nready, ready);
    u128hex_encode(npending, pending);
    snprintf(addr, sizeof addr, "/ip4/127.0.0.1/tcp/8228/p2p/Qm%.44s", pub + 2);
    *res = json_pack(
        "{s:s, s:s, s:s, s:[s,s], s:s, s:[s], s:s, s:s, s:s,"
        " s:{s:s, s:s, s:s}, s:s, s:s, s:s, s:s, s:s, s:s,"
        " s:[{s:s, s:{s:s, s:s, s:s}, s:n, s:[{s:{s:{s:s, s:s}, s:s}, s:n}]}]}",
        "version", "0.8.0", "commit_hash", "fnn-sim", "pubkey", pub, "features", "gossip_queries",
        "basic_mpp", "node_name", "fnn-sim", "addresses", addr, "chain_hash",
        chain_hashes[sim_store_currency(s)], "open_channel_auto_accept_min_ckb_funding_amount",
        "0x2540be400", "auto_accept_channel_ckb_funding_amount", "0x2540be400",
        "default_funding_lock_script", "code_hash",
        "0x9bd7e06f3ecf4be0f2fcd2188b23f1b9fcc88e5d4b65a8637b17723bbda3cce8", "hash_type", "type",
        "args", "0x", "tlc_expiry_delta", "0x5265c00", "tlc_min_value", "0x0",
        "tlc_fee_proportional_millionths", "0x3e8", "channel_count", ready, "pending_channel_count",
        pending, "peers_count", "0x2", "udt_cfg_infos", "name", "RUSD", "script", "code_hash",
        RUSD_CODE_HASH, "hash_type", "type", "args", RUSD_ARGS, "auto_accept_amount", "cell_deps",
        "cell_dep", "out_point", "tx_hash",
        "0xed7d65b9ad3d99657e37c4285d585fea8a5fcaf58165d54dacf90243f911548b", "index", "0x0",
        "dep_type", "code", "type_id");
    return 0;
}

static int m_new_invoice(struct sim_store *s, json_t *obj, json_t **res, struct sim_rpc_error *err)
{
    struct sim_invoice_data d = {.node = SIM_NODE_LOCAL, .has_amount = 1};
    uint8_t preimage[32], hash[32];
    const char *desc = NULL, *alg = NULL;
    int has_pre, has_hash, mpp, trampoline;
    uint64_t delta = SIM_MIN_FINAL_EXPIRY_DELTA;

    if (sim_rpc_uint(obj, "amount", 1, 0, &d.amount, err) < 0 ||
        get_currency(obj, &d.currency, err) < 0 ||
        get_string(obj, "description", 0, &desc, err) < 0 ||
        (has_pre = get_hash(obj, "payment_preimage", 0, preimage, err)) < 0 ||
        (has_hash = get_hash(obj, "payment_hash", 0, hash, err)) < 0 ||
        (d.has_expiry = sim_rpc_uint(obj, "expiry", 0, 0, &d.expiry_s, err)) < 0 ||
        sim_rpc_uint(obj, "final_expiry_delta", 0, 0, &delta, err) < 0 ||
        get_script(obj, "udt_type_script", &d.has_udt, &d.udt, err) < 0 ||
        get_string(obj, "hash_algorithm", 0, &alg, err) < 0 ||
        get_bool(obj, "allow_mpp", &mpp, err) < 0 ||
        get_bool(obj, "allow_trampoline_routing", &trampoline, err) < 0)
        return -1;
    if (alg != NULL) {
        if (strcmp(alg, "sha256") != 0 && strcmp(alg, "ckb_hash") != 0)
            return fail_params(err, "unknown variant `%s`, expected `ckb_hash` or `sha256`", alg);
        d.hash_alg_set = 1;
        d.hash_alg = strcmp(alg, "sha256") == 0 ? SIM_HASH_SHA256 : SIM_HASH_CKB;
    }
    if (d.currency != sim_store_currency(s))
        return fail_call(err, obj, "Currency must be %s with the chain network",
                         sim_currency_name(sim_store_currency(s)));
    if (has_pre == 0 && has_hash == 0) {
        if (crypto_random(preimage, sizeof preimage) < 0)
            return fail_call(err, obj, "failed to generate a random preimage");
        has_pre = 1;
    }
    if (mpp)
        return fail_call(err, obj, "Node does not support MPP, please enable MPP feature");
    if (trampoline)
        return fail_call(err, obj,
                         "Node does not support trampoline routing, please enable "
                         "trampoline routing feature");
    if (delta < SIM_MIN_FINAL_EXPIRY_DELTA)
        return fail_call(err, obj, "final_expiry_delta must be greater than or equal to %llu",
                         (unsigned long long)SIM_MIN_FINAL_EXPIRY_DELTA);
    if (delta > SIM_MAX_FINAL_EXPIRY_DELTA)
        return fail_call(err, obj, "final_expiry_delta must be less than or equal to %llu",
                         (unsigned long long)SIM_MAX_FINAL_EXPIRY_DELTA);
    d.final_expiry_delta_ms = delta;
    if (desc != NULL) {
        if (strlen(desc) > SIM_MAX_DESCRIPTION)
            return fail_call(err, obj,
                             "Description with length of %zu is too long, max length is %d",
                             strlen(desc), SIM_MAX_DESCRIPTION);
        d.has_description = 1;
        snprintf(d.description, sizeof d.description, "%s", desc);
    }
    if (has_pre) {
        uint8_t derived[32];
        hash_preimage(d.hash_alg, preimage, derived);
        if (has_hash && memcmp(derived, hash, 32) != 0)
            return fail_call(err, obj,
                             "Invalid payment hash: it does not match the payment preimage");
        memcpy(hash, derived, 32);
    }
    memcpy(d.payment_hash, hash, 32);
    d.timestamp_ms = sim_store_now_ms(s);
    struct sim_invoice *inv = sim_store_add_invoice(s, &d, has_pre ? preimage : NULL);
    if (inv == NULL)
        return fail_call(err, obj, "invoice already exists");
    *res = invoice_result(s, inv, 0);
    return 0;
}

static int lookup_local(struct sim_store *s, json_t *obj, struct sim_invoice **out,
                        const char *not_found, struct sim_rpc_error *err)
{
    uint8_t hash[32];
    if (get_hash(obj, "payment_hash", 1, hash, err) < 0)
        return -1;
    *out = sim_store_invoice(s, SIM_NODE_LOCAL, hash);
    if (*out == NULL)
        return fail_call(err, obj, "%s", not_found);
    return 0;
}

static int m_get_invoice(struct sim_store *s, json_t *obj, json_t **res, struct sim_rpc_error *err)
{
    struct sim_invoice *inv;
    if (lookup_local(s, obj, &inv, "invoice not found", err) < 0)
        return -1;
    *res = invoice_result(s, inv, 1);
    return 0;
}

static int m_parse_invoice(struct sim_store *s, json_t *obj, json_t **res,
                           struct sim_rpc_error *err)
{
    const char *str = NULL;
    struct sim_invoice_data d;
    char why[160];
    if (get_string(obj, "invoice", 1, &str, err) < 0)
        return -1;
    if (sim_invoice_decode(str, &d, why, sizeof why) < 0)
        return fail_call(err, obj, "%s", why);
    *res = json_pack("{s:o}", "invoice", sim_invoice_json(&d));
    return 0;
}

static int m_cancel_invoice(struct sim_store *s, json_t *obj, json_t **res,
                            struct sim_rpc_error *err)
{
    struct sim_invoice *inv;
    if (lookup_local(s, obj, &inv, "invoice not found", err) < 0)
        return -1;
    if (inv->pay_on_cancel && sim_invoice_status(s, inv) == SIM_INV_OPEN) {
        /* The race a hub must survive: the payment lands just before its cancel. */
        inv->pay_on_cancel = 0;
        inv->status = inv->has_preimage ? SIM_INV_PAID : SIM_INV_RECEIVED;
    }
    enum sim_inv_status st = sim_invoice_status(s, inv);
    if (st == SIM_INV_PAID || st == SIM_INV_CANCELLED)
        return fail_call(err, obj, "invoice can not be canceled, current status: %s",
                         sim_inv_status_name(st));
    inv->status = SIM_INV_CANCELLED;
    *res = invoice_result(s, inv, 1);
    return 0;
}

static int m_settle_invoice(struct sim_store *s, json_t *obj, json_t **res,
                            struct sim_rpc_error *err)
{
    struct sim_invoice *inv;
    uint8_t preimage[32], hash[32];
    if (get_hash(obj, "payment_hash", 1, hash, err) < 0 ||
        get_hash(obj, "payment_preimage", 1, preimage, err) < 0)
        return -1;
    if (lookup_local(s, obj, &inv, "Invoice not found", err) < 0)
        return -1;
    uint8_t derived[32];
    hash_preimage(inv->d.hash_alg, preimage, derived);
    if (memcmp(derived, inv->d.payment_hash, 32) != 0)
        return fail_call(err, obj, "Hash mismatch");
    switch (sim_invoice_status(s, inv)) {
    case SIM_INV_OPEN:
        return fail_call(err, obj, "Invoice is still open");
    case SIM_INV_CANCELLED:
        return fail_call(err, obj, "Invoice is already cancelled");
    case SIM_INV_EXPIRED:
        return fail_call(err, obj, "Invoice is already expired");
    case SIM_INV_PAID:
        return fail_call(err, obj, "Invoice is already paid");
    case SIM_INV_RECEIVED:
        break;
    }
    inv->has_preimage = 1;
    memcpy(inv->preimage, preimage, 32);
    inv->status = SIM_INV_PAID;
    *res = json_object();
    return 0;
}

static int m_send_payment(struct sim_store *s, json_t *obj, const struct sim_rpc_opts *opts,
                          json_t **res, struct sim_rpc_error *err)
{
    const char *invoice = NULL, *target = NULL;
    uint8_t hash[32];
    uint64_t amount = 0, max_fee = 0;
    int has_amount, has_hash, has_max_fee, keysend, dry_run, self_ok, has_udt;
    struct sim_udt udt;
    if (get_string(obj, "invoice", 0, &invoice, err) < 0 ||
        get_string(obj, "target_pubkey", 0, &target, err) < 0 ||
        (has_amount = sim_rpc_uint(obj, "amount", 0, 0, &amount, err)) < 0 ||
        (has_hash = get_hash(obj, "payment_hash", 0, hash, err)) < 0 ||
        (has_max_fee = sim_rpc_uint(obj, "max_fee_amount", 0, 0, &max_fee, err)) < 0 ||
        get_bool(obj, "keysend", &keysend, err) < 0 ||
        get_bool(obj, "dry_run", &dry_run, err) < 0 ||
        get_bool(obj, "allow_self_payment", &self_ok, err) < 0 ||
        get_script(obj, "udt_type_script", &has_udt, &udt, err) < 0)
        return -1;

    if (invoice != NULL) {
        struct sim_invoice_data d;
        char why[160];
        if (keysend)
            return fail_validate(err, obj, "keysend payment should not have invoice");
        if (sim_invoice_decode(invoice, &d, why, sizeof why) < 0 ||
            d.currency != sim_store_currency(s))
            return fail_validate(err, obj, "invoice is invalid");
        if (sim_invoice_expired(s, &d))
            return fail_validate(err, obj, "invoice is expired");
        if (target != NULL && strcasecmp(target + (strncmp(target, "0x", 2) == 0 ? 2 : 0),
                                         sim_node_pubkey(d.node)) != 0)
            return fail_validate(err, obj, "target_pubkey does not match the invoice");
        if (has_amount && d.has_amount && amount != d.amount)
            return fail_validate(err, obj, "amount does not match the invoice");
        if (!has_amount && !d.has_amount)
            return fail_validate(err, obj, "amount is missing");
        if (has_hash && memcmp(hash, d.payment_hash, 32) != 0)
            return fail_validate(err, obj, "payment_hash does not match the invoice");
        if (has_udt != d.has_udt ||
            (has_udt &&
             (memcmp(udt.code_hash, d.udt.code_hash, 32) != 0 || udt.hash_type != d.udt.hash_type ||
              udt.args_len != d.udt.args_len || memcmp(udt.args, d.udt.args, udt.args_len) != 0)))
            return fail_validate(err, obj, "udt_type_script does not match the invoice");
        if (d.node == SIM_NODE_LOCAL && !self_ok)
            return fail_validate(err, obj, "allow_self_payment is not enable, can not pay to self");
        memcpy(hash, d.payment_hash, 32);
        if (d.has_amount)
            amount = d.amount;
    } else {
        if (target == NULL)
            return fail_validate(err, obj, "target_pubkey is missing");
        if (!has_amount)
            return fail_validate(err, obj, "amount is missing");
        if (keysend) {
            uint8_t preimage[32];
            if (has_hash)
                return fail_validate(err, obj, "keysend payment should not have payment_hash");
            if (crypto_random(preimage, sizeof preimage) < 0)
                return fail_call(err, obj, "failed to generate a random preimage");
            crypto_sha256(preimage, sizeof preimage, hash);
        } else if (!has_hash) {
            return fail_validate(err, obj, "payment_hash is missing");
        }
    }

    /* Every route costs route_fee_ppm of the amount (0.1 % unless sim_set_route_fee). As FNN's
     * path finder does, a route dearer than max_fee_amount is not taken: the payment fails with
     * no path found, and nothing is paid. FNN's text gives no figures; the sim adds them. */
    uint64_t fee = (uint64_t)((unsigned __int128)amount * sim_store_route_fee_ppm(s) / 1000000u);
    char too_dear[256] = "";
    if (has_max_fee && fee > max_fee) {
        char fee_hex[24], max_hex[24];
        u128hex_encode(fee, fee_hex);
        u128hex_encode(max_fee, max_hex);
        snprintf(too_dear, sizeof too_dear,
                 "Failed to build route, PathFind error: no path found within max_fee_amount %s "
                 "(route fee %s)",
                 max_hex, fee_hex);
    }
    struct sim_payment *p = sim_store_payment(s, hash);
    if (p != NULL && p->status != SIM_PAY_FAILED) {
        char h[67];
        hex256(hash, h);
        return fail_call(err, obj,
                         PAY_PREFIX "Payment session already exists: %s with payment session "
                                    "status: %s",
                         h, sim_pay_status_name(p->status));
    }
    if (dry_run) {
        if (too_dear[0] != '\0')
            return fail_call(err, obj, "%s", too_dear);
        struct sim_payment tmp = {.status = SIM_PAY_CREATED, .fee = fee};
        memcpy(tmp.payment_hash, hash, 32);
        tmp.created_at_ms = tmp.last_updated_at_ms = sim_store_now_ms(s);
        *res = payment_result(&tmp);
        return 0;
    }
    if (p == NULL)
        p = sim_store_add_payment(s, hash);
    p->status = SIM_PAY_CREATED;
    p->created_at_ms = p->last_updated_at_ms = sim_store_now_ms(s);
    p->fee = fee;
    p->amount = amount;
    p->sessions++;
    p->polls = 0;
    free(p->failed_error);
    p->failed_error = NULL;
    free(p->fail_with);
    p->fail_with = too_dear[0] != '\0'                          ? xstrdup(too_dear)
                   : opts != NULL && opts->fail_payment != NULL ? xstrdup(opts->fail_payment)
                                                                : NULL;
    *res = payment_result(p);
    return 0;
}

/* Each poll moves a live session one step: Created → Inflight → Success (or Failed when
 * scripted). Success marks the payee's invoice Paid, as the remote node would. */
static int m_get_payment(struct sim_store *s, json_t *obj, json_t **res, struct sim_rpc_error *err)
{
    uint8_t hash[32];
    if (get_hash(obj, "payment_hash", 1, hash, err) < 0)
        return -1;
    struct sim_payment *p = sim_store_payment(s, hash);
    if (p == NULL) {
        char h[67];
        hex256(hash, h);
        return fail_call(err, obj, PAY_PREFIX "Payment session not found: %s", h);
    }
    p->polls++;
    if (p->status == SIM_PAY_CREATED) {
        p->status = SIM_PAY_INFLIGHT;
        p->last_updated_at_ms = sim_store_now_ms(s);
    } else if (p->status == SIM_PAY_INFLIGHT) {
        p->last_updated_at_ms = sim_store_now_ms(s);
        if (p->fail_with != NULL) {
            p->status = SIM_PAY_FAILED;
            p->failed_error = p->fail_with;
            p->fail_with = NULL;
        } else {
            p->status = SIM_PAY_SUCCESS;
            for (int n = SIM_NODE_LOCAL; n <= SIM_NODE_REMOTE; n++) {
                struct sim_invoice *inv = sim_store_invoice(s, (enum sim_node)n, hash);
                if (inv != NULL && inv->status == SIM_INV_OPEN)
                    inv->status = SIM_INV_PAID;
            }
        }
    }
    *res = payment_result(p);
    return 0;
}

/* ---- channels (fnn-rpc.md section 7) ---- */

/* FNN's ChannelState names in the order a channel goes through them; the first five are
 * "pending" (list_channels only_pending). */
static const char *const channel_states[] = {
    "NegotiatingFunding",   "CollaboratingFundingTx", "SigningCommitment", "AwaitingTxSignatures",
    "AwaitingChannelReady", "ChannelReady",           "ShuttingDown",      "Closed",
};

static int channel_state_index(const char *name)
{
    for (int i = 0; name != NULL && i < (int)FL_ARRAY_LEN(channel_states); i++) {
        if (strcmp(name, channel_states[i]) == 0)
            return i;
    }
    return -1;
}

static int get_channel_state(json_t *obj, char out[SIM_CHANNEL_STATE_MAX],
                             struct sim_rpc_error *err)
{
    const char *st = NULL;
    int r = get_string(obj, "state", 0, &st, err);
    if (r <= 0)
        return r;
    if (channel_state_index(st) < 0)
        return fail_params(err, "unknown channel state `%s`", st);
    snprintf(out, SIM_CHANNEL_STATE_MAX, "%s", st);
    return 1;
}

static json_t *script_json(const struct sim_udt *u)
{
    static const char *const names[] = {[0] = "data", [1] = "type", [2] = "data1", [4] = "data2"};
    char code_hash[67];
    char *args = xmalloc(2 + 2 * u->args_len + 1);
    hex256(u->code_hash, code_hash);
    args[0] = '0';
    args[1] = 'x';
    hex_encode(u->args, u->args_len, args + 2);
    json_t *j = json_pack("{s:s, s:s, s:s}", "code_hash", code_hash, "hash_type",
                          u->hash_type < FL_ARRAY_LEN(names) && names[u->hash_type] != NULL
                              ? names[u->hash_type]
                              : "type",
                          "args", args);
    free(args);
    return j;
}

/* FNN's Channel object (v0.8 fields). */
static json_t *channel_json(const struct sim_channel *c)
{
    char id[67], outpoint[2 + 64 + 8 + 1], created[24], local[24], remote[24], offered[24],
        received[24];
    hex256(c->channel_id, id);
    hex256(c->funding_tx, outpoint);
    memcpy(outpoint + 66, "00000000", 9); /* index 0, u32 little-endian */
    u128hex_encode(c->created_at_ms, created);
    u128hex_encode(c->local_balance, local);
    u128hex_encode(c->remote_balance, remote);
    u128hex_encode(c->offered_tlc_balance, offered);
    u128hex_encode(c->received_tlc_balance, received);
    int funded = channel_state_index(c->state) >= CHANNEL_PENDING_STATES;
    int ready = strcmp(c->state, "ChannelReady") == 0;
    return json_pack(
        "{s:s, s:b, s:b, s:b, s:o, s:s, s:o, s:{s:s}, s:s, s:s, s:s, s:s, s:[], s:o, s:s, s:b,"
        " s:s, s:s, s:n, s:n}",
        "channel_id", id, "is_public", c->is_public, "is_acceptor", 0, "is_one_way", 0,
        "channel_outpoint", funded ? json_string(outpoint) : json_null(), "pubkey",
        sim_node_pubkey(SIM_NODE_REMOTE), "funding_udt_type_script",
        c->has_udt ? script_json(&c->udt) : json_null(), "state", "state_name", c->state,
        "local_balance", local, "offered_tlc_balance", offered, "remote_balance", remote,
        "received_tlc_balance", received, "pending_tlcs", "latest_commitment_transaction_hash",
        funded ? json_string(id) : json_null(), "created_at", created, "enabled", ready,
        "tlc_expiry_delta", "0x5265c00", "tlc_fee_proportional_millionths", "0x3e8",
        "shutdown_transaction_hash", "failure_detail");
}

/* list_channels {pubkey?, include_closed?, only_pending?} → {channels}: every channel is with the
 * simulated remote node, so a pubkey filter keeps all of them or none. Closed ones only with
 * include_closed; only_pending keeps those not yet ChannelReady. */
static int m_list_channels(struct sim_store *s, json_t *obj, json_t **res,
                           struct sim_rpc_error *err)
{
    const char *pubkey = NULL;
    int include_closed, only_pending;
    if (get_string(obj, "pubkey", 0, &pubkey, err) < 0 ||
        get_bool(obj, "include_closed", &include_closed, err) < 0 ||
        get_bool(obj, "only_pending", &only_pending, err) < 0)
        return -1;
    int peer_matches = 1;
    if (pubkey != NULL) {
        const char *h = strncmp(pubkey, "0x", 2) == 0 ? pubkey + 2 : pubkey;
        uint8_t key[33];
        if (strlen(h) != 66 || hex_decode(h, 66, key, 33) < 0 || (key[0] != 2 && key[0] != 3))
            return fail_params(err, "invalid pubkey: %s", pubkey);
        peer_matches = strcasecmp(h, sim_node_pubkey(SIM_NODE_REMOTE)) == 0;
    }
    json_t *list = json_array();
    for (size_t i = 0; peer_matches && i < sim_store_channel_count(s); i++) {
        const struct sim_channel *c = sim_store_channel_at(s, i);
        int st = channel_state_index(c->state);
        if (only_pending ? st >= CHANNEL_PENDING_STATES
                         : (!include_closed && strcmp(c->state, "Closed") == 0))
            continue;
        json_array_append_new(list, channel_json(c));
    }
    *res = json_pack("{s:o}", "channels", list);
    return 0;
}

/* ---- control methods on the store ---- */

static int m_sim_pay_invoice(struct sim_store *s, json_t *obj, json_t **res,
                             struct sim_rpc_error *err)
{
    const char *str = NULL, *stage = NULL, *when = NULL;
    uint8_t hash[32];
    int has_hash;
    if (get_string(obj, "invoice", 0, &str, err) < 0 ||
        (has_hash = get_hash(obj, "payment_hash", 0, hash, err)) < 0 ||
        get_string(obj, "stage", 0, &stage, err) < 0 || get_string(obj, "when", 0, &when, err) < 0)
        return -1;
    /* stage "received": the payer's TLC has arrived but is not fulfilled yet (a normal invoice
     * passes through Received for a moment; this holds it there until paid again).
     * when "before_cancel": nothing happens now; the payment lands at the next cancel_invoice. */
    int hold_received = stage != NULL && strcmp(stage, "received") == 0;
    int before_cancel = when != NULL && strcmp(when, "before_cancel") == 0;
    if ((stage != NULL && !hold_received) || (when != NULL && !before_cancel))
        return fail_params(err, "stage must be \"received\", when must be \"before_cancel\"");
    if (str != NULL) {
        struct sim_invoice_data d;
        char why[160];
        if (sim_invoice_decode(str, &d, why, sizeof why) < 0)
            return fail_call(err, obj, "%s", why);
        if (d.node != SIM_NODE_LOCAL)
            return fail_call(err, obj, "invoice was not issued by this node");
        memcpy(hash, d.payment_hash, 32);
    } else if (!has_hash) {
        return fail_params(err, "missing field `invoice`");
    }
    struct sim_invoice *inv = sim_store_invoice(s, SIM_NODE_LOCAL, hash);
    if (inv == NULL)
        return fail_call(err, obj, "invoice not found");
    enum sim_inv_status st = sim_invoice_status(s, inv);
    if (st == SIM_INV_OPEN && before_cancel) {
        inv->pay_on_cancel = 1;
        *res = invoice_result(s, inv, 1);
        return 0;
    }
    if (st == SIM_INV_RECEIVED && inv->has_preimage && !hold_received) {
        inv->status = SIM_INV_PAID; /* a held normal payment completes */
        *res = invoice_result(s, inv, 1);
        return 0;
    }
    switch (st) {
    case SIM_INV_OPEN:
        inv->status = inv->has_preimage && !hold_received ? SIM_INV_PAID : SIM_INV_RECEIVED;
        break;
    case SIM_INV_EXPIRED:
        return fail_call(err, obj, "cannot pay: invoice is expired");
    case SIM_INV_CANCELLED:
        return fail_call(err, obj, "cannot pay: invoice is cancelled");
    case SIM_INV_PAID:
        return fail_call(err, obj, "cannot pay: invoice is already paid");
    case SIM_INV_RECEIVED:
        return fail_call(err, obj, "cannot pay: invoice already received a payment (held)");
    }
    *res = invoice_result(s, inv, 1);
    return 0;
}

static int m_sim_new_external_invoice(struct sim_store *s, json_t *obj, json_t **res,
                                      struct sim_rpc_error *err)
{
    struct sim_invoice_data d = {
        .node = SIM_NODE_REMOTE,
        .currency = sim_store_currency(s),
        .has_amount = 1,
        .has_expiry = 1,
        .expiry_s = 3600,
        .final_expiry_delta_ms = SIM_MIN_FINAL_EXPIRY_DELTA,
        .hash_alg_set = 1,
        .hash_alg = SIM_HASH_SHA256,
    };
    const char *desc = NULL;
    if (sim_rpc_uint(obj, "amount", 1, 1, &d.amount, err) < 0 ||
        sim_rpc_uint(obj, "expiry", 0, 1, &d.expiry_s, err) < 0 ||
        get_string(obj, "description", 0, &desc, err) < 0 ||
        get_script(obj, "udt_type_script", &d.has_udt, &d.udt, err) < 0)
        return -1;
    if (json_object_get(obj, "currency") != NULL && get_currency(obj, &d.currency, err) < 0)
        return -1;
    if (desc != NULL) {
        d.has_description = 1;
        snprintf(d.description, sizeof d.description, "%.*s", SIM_MAX_DESCRIPTION, desc);
    }
    uint8_t preimage[32];
    if (crypto_random(preimage, sizeof preimage) < 0)
        return fail_call(err, obj, "failed to generate a random preimage");
    crypto_sha256(preimage, sizeof preimage, d.payment_hash);
    d.timestamp_ms = sim_store_now_ms(s);
    struct sim_invoice *inv = sim_store_add_invoice(s, &d, preimage);
    if (inv == NULL)
        return fail_call(err, obj, "invoice already exists");
    char h[67];
    hex256(d.payment_hash, h);
    *res = json_pack("{s:s, s:s}", "invoice", inv->address, "payment_hash", h);
    return 0;
}

static int m_sim_advance_clock(struct sim_store *s, json_t *obj, json_t **res,
                               struct sim_rpc_error *err)
{
    uint64_t secs = 0;
    if (sim_rpc_uint(obj, "seconds", 1, 1, &secs, err) < 0)
        return -1;
    sim_store_advance(s, secs);
    char now[24];
    u128hex_encode(sim_store_now_ms(s), now);
    *res = json_pack("{s:s}", "now", now);
    return 0;
}

static int m_sim_set_route_fee(struct sim_store *s, json_t *obj, json_t **res,
                               struct sim_rpc_error *err)
{
    uint64_t ppm = 0;
    if (sim_rpc_uint(obj, "ppm", 1, 1, &ppm, err) < 0)
        return -1;
    sim_store_set_route_fee_ppm(s, ppm);
    *res = json_object();
    return 0;
}

/* sim_open_channel {local_balance, remote_balance?, udt_type_script?, state?, public?}
 * → {channel_id}: a channel with the remote node, ChannelReady unless state says otherwise. */
static int m_sim_open_channel(struct sim_store *s, json_t *obj, json_t **res,
                              struct sim_rpc_error *err)
{
    struct sim_channel c = {.is_public = 1, .created_at_ms = sim_store_now_ms(s)};
    snprintf(c.state, sizeof c.state, "ChannelReady");
    int has_public, pub;
    if (sim_rpc_uint(obj, "local_balance", 1, 1, &c.local_balance, err) < 0 ||
        sim_rpc_uint(obj, "remote_balance", 0, 1, &c.remote_balance, err) < 0 ||
        get_script(obj, "udt_type_script", &c.has_udt, &c.udt, err) < 0 ||
        get_channel_state(obj, c.state, err) < 0 ||
        (has_public = get_bool(obj, "public", &pub, err)) < 0)
        return -1;
    if (has_public)
        c.is_public = pub;
    if (crypto_random(c.channel_id, sizeof c.channel_id) < 0 ||
        crypto_random(c.funding_tx, sizeof c.funding_tx) < 0)
        return fail_call(err, obj, "failed to generate a channel id");
    sim_store_add_channel(s, &c);
    char id[67];
    hex256(c.channel_id, id);
    *res = json_pack("{s:s}", "channel_id", id);
    return 0;
}

/* sim_update_channel {channel_id, local_balance?, remote_balance?, offered_tlc_balance?, state?}
 * → the Channel as list_channels shows it. */
static int m_sim_update_channel(struct sim_store *s, json_t *obj, json_t **res,
                                struct sim_rpc_error *err)
{
    uint8_t id[32];
    if (get_hash(obj, "channel_id", 1, id, err) < 0)
        return -1;
    struct sim_channel *c = sim_store_channel(s, id);
    if (c == NULL)
        return fail_call(err, obj, "channel not found");
    struct sim_channel u = *c;
    if (sim_rpc_uint(obj, "local_balance", 0, 1, &u.local_balance, err) < 0 ||
        sim_rpc_uint(obj, "remote_balance", 0, 1, &u.remote_balance, err) < 0 ||
        sim_rpc_uint(obj, "offered_tlc_balance", 0, 1, &u.offered_tlc_balance, err) < 0 ||
        get_channel_state(obj, u.state, err) < 0)
        return -1;
    *c = u;
    *res = channel_json(c);
    return 0;
}

static int m_sim_get_payments(struct sim_store *s, json_t *obj, json_t **res,
                              struct sim_rpc_error *err)
{
    json_t *list = json_array();
    for (size_t i = 0; i < sim_store_payment_count(s); i++) {
        struct sim_payment *p = sim_store_payment_at(s, i);
        json_t *r = payment_result(p);
        char n[24];
        u128hex_encode(p->sessions, n);
        json_object_set_new(r, "sessions", json_string(n));
        u128hex_encode(p->amount, n);
        json_object_set_new(r, "amount", json_string(n));
        json_array_append_new(list, r);
    }
    *res = json_pack("{s:o}", "payments", list);
    return 0;
}

/* ---- dispatch ---- */

typedef int (*method_fn)(struct sim_store *s, json_t *obj, json_t **res, struct sim_rpc_error *err);

static const struct {
    const char *name;
    method_fn fn;
} methods[] = {
    {"new_invoice", m_new_invoice},
    {"get_invoice", m_get_invoice},
    {"parse_invoice", m_parse_invoice},
    {"cancel_invoice", m_cancel_invoice},
    {"settle_invoice", m_settle_invoice},
    {"get_payment", m_get_payment},
    {"list_channels", m_list_channels},
    {"sim_pay_invoice", m_sim_pay_invoice},
    {"sim_new_external_invoice", m_sim_new_external_invoice},
    {"sim_advance_clock", m_sim_advance_clock},
    {"sim_get_payments", m_sim_get_payments},
    {"sim_set_route_fee", m_sim_set_route_fee},
    {"sim_open_channel", m_sim_open_channel},
    {"sim_update_channel", m_sim_update_channel},
};

int sim_rpc_call(struct sim_store *s, const char *method, json_t *params,
                 const struct sim_rpc_opts *opts, json_t **result, struct sim_rpc_error *err)
{
    json_t *obj;
    memset(err, 0, sizeof *err);
    *result = NULL;
    if (strcmp(method, "node_info") == 0)
        return m_node_info(s, params, result, err);
    int control = strncmp(method, "sim_", 4) == 0;
    if (strcmp(method, "send_payment") == 0) {
        if (sim_rpc_params_object(params, 0, &obj, err) < 0)
            return -1;
        return m_send_payment(s, obj, opts, result, err);
    }
    for (size_t i = 0; i < FL_ARRAY_LEN(methods); i++) {
        if (strcmp(method, methods[i].name) == 0) {
            if (sim_rpc_params_object(params, control, &obj, err) < 0)
                return -1;
            return methods[i].fn(s, obj, result, err);
        }
    }
    err->code = -32601;
    snprintf(err->message, sizeof err->message, "Method not found");
    return -1;
}
