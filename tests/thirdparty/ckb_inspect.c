/* ckb-inspect: prints what the hub's C code (core/ckb_address.h, core/ckb_tx.h) makes of addresses
 * and transactions, so tests/integration/test_ckb_thirdparty.py can set it beside what a
 * third-party SDK (@ckb-ccc/core) computes from the same input. Test-only, not installed.
 * Transactions are built and signed by ckb-tx-tool (the hub's builder and signer); this tool only
 * reads them back. It reads one JSON object on stdin: {addresses?: [{address, network}], txs?:
 * [<send_transaction tx JSON>], fee_rate?: n} and prints {addresses: [{ok: true, script} | {ok:
 * false, error: <enum ckb_addr_error>, message}], txs: [{hash, size, fee, occupied: [shannons per
 * output]}]} where size is serialized_size_in_block and fee what the builder pays for it at
 * fee_rate (default 1000). Exit 0, or 1 with the reason on stderr (an undecodable tx is a failure,
 * not an answer). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/ckb_address.h"
#include "core/ckb_tx.h"

static int die(const char *what, const char *detail)
{
    fprintf(stderr, "ckb-inspect: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    return 1;
}

static json_t *inspect_address(json_t *v)
{
    const char *addr = json_string_value(json_object_get(v, "address"));
    const char *ns = json_string_value(json_object_get(v, "network"));
    enum ckb_network net;
    if (addr == NULL || ns == NULL || ckb_network_parse(ns, &net) < 0)
        return NULL;
    struct ckb_script s;
    enum ckb_addr_error e = ckb_address_decode(addr, strlen(addr), net, &s);
    if (e != CKB_ADDR_OK)
        return json_pack("{s:b, s:i, s:s}", "ok", 0, "error", (int)e, "message",
                         ckb_address_error_message(e, net));
    return json_pack("{s:b, s:o}", "ok", 1, "script", ckb_script_to_json(&s));
}

static json_t *inspect_tx(json_t *v, uint64_t rate, char *err, size_t errsz)
{
    struct ckb_tx tx;
    if (ckb_tx_from_json(v, &tx, err, errsz) < 0)
        return NULL;
    uint8_t hash[32];
    uint64_t size = ckb_tx_size_in_block(&tx);
    json_t *occupied = json_array();
    json_t *out = NULL;
    if (ckb_tx_hash(&tx, hash) == 0 && size > 0 && occupied != NULL) {
        for (size_t i = 0; i < tx.noutputs; i++)
            json_array_append_new(occupied, json_integer((json_int_t)ckb_output_occupied(
                                                &tx.outputs[i], tx.outputs_data[i].len)));
        out =
            json_pack("{s:o, s:I, s:I, s:O}", "hash", ckb_json_h256(hash), "size", (json_int_t)size,
                      "fee", (json_int_t)ckb_fee_for_size(size, rate), "occupied", occupied);
    } else {
        snprintf(err, errsz, "out of memory");
    }
    json_decref(occupied);
    ckb_tx_free(&tx);
    return out;
}

int main(void)
{
    json_error_t jerr;
    json_t *in = json_loadf(stdin, 0, &jerr);
    if (!json_is_object(in)) {
        json_decref(in);
        return die("stdin is not a JSON object", jerr.text[0] ? jerr.text : NULL);
    }
    int rc = 1;
    uint64_t rate = 1000;
    json_t *addrs = json_array(), *txs = json_array(), *out = NULL;
    json_t *r = json_object_get(in, "fee_rate");
    if (r != NULL) {
        if (!json_is_integer(r) || json_integer_value(r) < 0) {
            die("bad `fee_rate`", NULL);
            goto done;
        }
        rate = (uint64_t)json_integer_value(r);
    }
    size_t i;
    json_t *v;
    json_array_foreach (json_object_get(in, "addresses"), i, v) {
        json_t *a = inspect_address(v);
        if (a == NULL) {
            die("bad `addresses` item: needs address and network", NULL);
            goto done;
        }
        json_array_append_new(addrs, a);
    }
    json_array_foreach (json_object_get(in, "txs"), i, v) {
        char err[256];
        json_t *t = inspect_tx(v, rate, err, sizeof err);
        if (t == NULL) {
            die("bad tx", err);
            goto done;
        }
        json_array_append_new(txs, t);
    }
    out = json_pack("{s:O, s:O}", "addresses", addrs, "txs", txs);
    char *s = out ? json_dumps(out, JSON_COMPACT) : NULL;
    if (s == NULL) {
        die("out of memory", NULL);
        goto done;
    }
    puts(s);
    free(s);
    rc = 0;
done:
    json_decref(out);
    json_decref(addrs);
    json_decref(txs);
    json_decref(in);
    return rc;
}
