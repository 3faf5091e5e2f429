/* ckb-tx-tool: builds and signs a default-lock transaction for the ckb-sim tests (not shipped).
 * It reads one JSON spec on stdin:
 *   {key: "0x<secret>", inputs: [{tx_hash, index, since?}], outputs: [{capacity, address | lock,
 *    data?}], dep?: {tx_hash, index} (a dep group; default none), network?: "devnet"|"testnet",
 *    fee_rate?, input_capacity?}
 * With fee_rate and input_capacity the last output's capacity becomes input_capacity minus the
 * other outputs minus the fee for the signed size, rounded up. Every input is signed as one
 * group with key (core/ckb_sign.h ckb_tx_sign_all). It prints {tx, hash, size, fee?} where tx is
 * the send_transaction form, so a test can corrupt any field before sending it. With no inputs it
 * prints only {lock}: the key's default lock. With {decode: "<molecule Transaction hex>"} (no key)
 * it prints {tx, hash} for those bytes as they are, so a test can send a transaction the hub stored
 * (ckb_txs.raw) itself. Exit 0, or 1 with the reason on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/ckb_sign.h"
#include "core/ckb_tx.h"
#include "core/crypto.h"

static int die(const char *what)
{
    fprintf(stderr, "ckb-tx-tool: %s\n", what);
    return 1;
}

static int parse_u64(json_t *v, uint64_t *out)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (uint64_t)json_integer_value(v);
        return 0;
    }
    return ckb_json_parse_uint(v, UINT64_MAX, out);
}

/* {decode}: the stored bytes in the node's JSON form, unchanged (no signing). */
static int decode(json_t *spec, const char *hex)
{
    size_t n = strlen(hex);
    if (n >= 2 && hex[0] == '0' && hex[1] == 'x') {
        hex += 2;
        n -= 2;
    }
    if (n == 0 || n % 2 != 0)
        return die("bad `decode` hex");
    uint8_t *raw = malloc(n / 2);
    struct ckb_tx tx;
    char why[128] = "";
    uint8_t hash[32];
    ckb_tx_init(&tx);
    if (raw == NULL || hex_decode(hex, n, raw, n / 2) < 0 ||
        ckb_tx_decode(raw, n / 2, &tx, why, sizeof why) < 0 || ckb_tx_hash(&tx, hash) < 0) {
        free(raw);
        return die(why[0] != '\0' ? why : "bad `decode` bytes");
    }
    free(raw);
    json_t *out = json_pack("{s:o, s:o}", "tx", ckb_tx_to_json(&tx), "hash", ckb_json_h256(hash));
    char *s = json_dumps(out, JSON_COMPACT);
    puts(s);
    free(s);
    json_decref(out);
    json_decref(spec);
    ckb_tx_free(&tx);
    return 0;
}

int main(void)
{
    json_error_t jerr;
    json_t *spec = json_loadf(stdin, 0, &jerr);
    if (!json_is_object(spec))
        return die("stdin is not a JSON object");
    const char *raw_hex = json_string_value(json_object_get(spec, "decode"));
    if (raw_hex != NULL)
        return decode(spec, raw_hex);
    const char *key_hex = json_string_value(json_object_get(spec, "key"));
    struct ckb_key key;
    char err[256];
    if (key_hex == NULL || ckb_key_from_hex(key_hex, strlen(key_hex), &key, err, sizeof err) < 0)
        return die("bad `key`");
    enum ckb_network net = CKB_DEVNET;
    const char *ns = json_string_value(json_object_get(spec, "network"));
    if (ns != NULL && ckb_network_parse(ns, &net) < 0)
        return die("bad `network`");

    struct ckb_tx tx;
    ckb_tx_init(&tx);
    json_t *dep = json_object_get(spec, "dep");
    if (dep != NULL && !json_is_null(dep)) {
        struct ckb_cell_dep d = {.dep_type = CKB_DEP_TYPE_DEP_GROUP};
        if (ckb_out_point_from_json(dep, &d.out_point) < 0 || ckb_tx_add_cell_dep(&tx, &d) < 0)
            return die("bad `dep`");
    }
    size_t i;
    json_t *v;
    json_array_foreach (json_object_get(spec, "inputs"), i, v) {
        struct ckb_input in = {0};
        json_t *op = json_pack("{s:O, s:O}", "tx_hash", json_object_get(v, "tx_hash"), "index",
                               json_object_get(v, "index"));
        json_t *since = json_object_get(v, "since");
        if (op == NULL || ckb_out_point_from_json(op, &in.previous_output) < 0 ||
            (since != NULL && parse_u64(since, &in.since) < 0) || ckb_tx_add_input(&tx, &in) < 0)
            return die("bad input");
        json_decref(op);
    }
    uint64_t others = 0;
    json_array_foreach (json_object_get(spec, "outputs"), i, v) {
        struct ckb_output o = {0};
        const char *addr = json_string_value(json_object_get(v, "address"));
        if (parse_u64(json_object_get(v, "capacity"), &o.capacity) < 0)
            return die("bad output capacity");
        if (addr != NULL) {
            if (ckb_address_decode(addr, strlen(addr), net, &o.lock) != CKB_ADDR_OK)
                return die("bad output address");
        } else if (ckb_script_from_json(json_object_get(v, "lock"), &o.lock, err, sizeof err) < 0) {
            return die("bad output lock");
        }
        uint8_t data[4096];
        size_t dlen = 0;
        const char *dh = json_string_value(json_object_get(v, "data"));
        if (dh != NULL) {
            size_t n = strlen(dh);
            if (n < 2 || n % 2 != 0 || (n - 2) / 2 > sizeof data ||
                hex_decode(dh + 2, n - 2, data, (n - 2) / 2) < 0)
                return die("bad output data");
            dlen = (n - 2) / 2;
        }
        if (i + 1 < json_array_size(json_object_get(spec, "outputs")))
            others += o.capacity;
        if (ckb_tx_add_output(&tx, &o, data, dlen) < 0)
            return die("out of memory");
    }
    struct ckb_script lock;
    ckb_key_lock(&key, &lock);
    if (tx.ninputs == 0) { /* just the key's lock */
        json_t *out = json_pack("{s:o}", "lock", ckb_script_to_json(&lock));
        char *s = json_dumps(out, JSON_COMPACT);
        puts(s);
        free(s);
        json_decref(out);
        json_decref(spec);
        ckb_tx_free(&tx);
        ckb_key_wipe(&key);
        return 0;
    }
    if (ckb_tx_sign_all(&tx, &key) < 0)
        return die("signing failed");
    uint64_t rate, in_cap, fee = 0;
    int adjust = json_object_get(spec, "fee_rate") != NULL;
    if (adjust) {
        if (parse_u64(json_object_get(spec, "fee_rate"), &rate) < 0 ||
            parse_u64(json_object_get(spec, "input_capacity"), &in_cap) < 0 || tx.noutputs == 0)
            return die("fee_rate needs input_capacity and an output");
        fee = ckb_fee_for_size(ckb_tx_size_in_block(&tx), rate);
        if (in_cap < others + fee)
            return die("input_capacity does not cover the outputs and the fee");
        tx.outputs[tx.noutputs - 1].capacity = in_cap - others - fee;
        if (ckb_tx_sign_all(&tx, &key) < 0)
            return die("signing failed");
    }
    uint8_t hash[32];
    if (ckb_tx_hash(&tx, hash) < 0)
        return die("out of memory");
    json_t *out = json_pack("{s:o, s:o, s:I}", "tx", ckb_tx_to_json(&tx), "hash",
                            ckb_json_h256(hash), "size", (json_int_t)ckb_tx_size_in_block(&tx));
    if (adjust)
        json_object_set_new(out, "fee", json_integer((json_int_t)fee));
    char *s = json_dumps(out, JSON_COMPACT);
    puts(s);
    free(s);
    json_decref(out);
    json_decref(spec);
    ckb_tx_free(&tx);
    ckb_key_wipe(&key);
    return 0;
}
