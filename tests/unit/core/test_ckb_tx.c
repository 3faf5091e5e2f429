/* Unit tests for core/ckb_tx.c: the byte-level RawTransaction of ckb-onchain.md §3 (lumos
 * SECP256K1_[G1]: 351 bytes, its tx hash, 460 bytes signed), the tx-hash vector of §4 (the sdkjs
 * rawTransactionToHash fixture, read here through the JSON decoder), the 597-byte 2-in-2-out size
 * of §7, WitnessArgs layouts, occupied capacity and fee rounding, JSON round trips and the strict
 * refusals of §8 (hex digits must be lowercase: see core/ckb_tx.c), and strict molecule decoding
 * (decode(serialize(x)) == x; truncations, bad offsets and trailing bytes refused). */
#include "core/ckb_tx.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/crypto.h"

static void unhex(const char *s, uint8_t *out, size_t n)
{
    if (strncmp(s, "0x", 2) == 0)
        s += 2;
    assert_int_equal(hex_decode(s, strlen(s), out, n), 0);
}

static void assert_hex(const uint8_t *got, size_t n, const char *want)
{
    char *buf = malloc(2 * n + 1);
    assert_non_null(buf);
    hex_encode(got, n, buf);
    if (strncmp(want, "0x", 2) == 0)
        want += 2;
    assert_string_equal(buf, want);
    free(buf);
}

static const char SIGHASH[] = "9bd7e06f3ecf4be0f2fcd2188b23f1b9fcc88e5d4b65a8637b17723bbda3cce8";

static void sighash_lock(struct ckb_script *s, const char *args_hex)
{
    memset(s, 0, sizeof(*s));
    unhex(SIGHASH, s->code_hash, 32);
    s->hash_type = CKB_HASH_TYPE_TYPE;
    s->args_len = 20;
    unhex(args_hex, s->args, 20);
}

/* lumos SECP256K1_[G1]: the transaction of §3, without witnesses. */
static void build_g1(struct ckb_tx *tx)
{
    struct ckb_cell_dep d = {0};
    struct ckb_input in = {0};
    struct ckb_output o = {0};

    ckb_tx_init(tx);
    unhex("f8de3bb47d055cdf460d93a2a6e1b05f7432f9777c8c474abf4eec1d4aee5d37", d.out_point.tx_hash,
          32);
    d.out_point.index = 0;
    d.dep_type = CKB_DEP_TYPE_DEP_GROUP;
    assert_int_equal(ckb_tx_add_cell_dep(tx, &d), 0);
    unhex("62f634d380484b56cee28c166f55ffc562129f0ef5311618396bbb979b806ab5",
          in.previous_output.tx_hash, 32);
    in.previous_output.index = 1;
    assert_int_equal(ckb_tx_add_input(tx, &in), 0);
    o.capacity = 10000000000ULL;
    sighash_lock(&o.lock, "159890a7cacb44a95bef0743064433d763de229c");
    assert_int_equal(ckb_tx_add_output(tx, &o, NULL, 0), 0);
    o.capacity = 979999800000ULL;
    sighash_lock(&o.lock, "7f599d5e44c248e211aa1d1ff47276758cab96f4");
    assert_int_equal(ckb_tx_add_output(tx, &o, NULL, 0), 0);
}

static const char G1_RAW_HEX[] =
    "5f0100001c00000020000000490000004d0000007d0000004b010000"
    "00000000"
    "01000000f8de3bb47d055cdf460d93a2a6e1b05f7432f9777c8c474abf4eec1d4aee5d370000000001"
    "00000000"
    "01000000000000000000000062f634d380484b56cee28c166f55ffc562129f0ef5311618396bbb979b806ab50100"
    "0000"
    "ce0000000c0000006d000000"
    "6100000010000000180000006100000000e40b5402000000"
    "490000001000000030000000310000009bd7e06f3ecf4be0f2fcd2188b23f1b9fcc88e5d4b65a8637b17723bbda3"
    "cce80114000000159890a7cacb44a95bef0743064433d763de229c"
    "61000000100000001800000061000000c03a8a2ce4000000"
    "490000001000000030000000310000009bd7e06f3ecf4be0f2fcd2188b23f1b9fcc88e5d4b65a8637b17723bbda3"
    "cce801140000007f599d5e44c248e211aa1d1ff47276758cab96f4"
    "140000000c000000100000000000000000000000";

/* Serializes tx (whole Transaction) into a new buffer. */
static struct ckb_buf ser(const struct ckb_tx *tx)
{
    struct ckb_buf b = {0};
    assert_int_equal(ckb_tx_serialize(tx, &b), 0);
    return b;
}

/* Two transactions are equal when their Transaction bytes are: molecule writes every field. */
static void assert_tx_equal(const struct ckb_tx *a, const struct ckb_tx *b)
{
    struct ckb_buf x = ser(a), y = ser(b);
    assert_int_equal(x.len, y.len);
    assert_memory_equal(x.p, y.p, x.len);
    ckb_buf_free(&x);
    ckb_buf_free(&y);
}

static void test_g1_raw_bytes_and_hash(void **state)
{
    struct ckb_tx tx;
    struct ckb_buf raw = {0}, full = {0};
    uint8_t h[32], zero[65] = {0}, w[CKB_WITNESS_LOCK_LEN];

    build_g1(&tx);
    assert_int_equal(ckb_tx_serialize_raw(&tx, &raw), 0);
    assert_int_equal(raw.len, 351);
    assert_hex(raw.p, raw.len, G1_RAW_HEX);
    assert_int_equal(ckb_tx_hash(&tx, h), 0);
    assert_hex(h, 32, "0dea0d436ff2fe4ef630d0d2805611bf924cf5d84dba34a7e2e1ce0782b30188");

    ckb_witness_args_lock(zero, w);
    assert_int_equal(ckb_tx_set_witness(&tx, 0, w, sizeof(w)), 0);
    assert_int_equal(ckb_tx_serialize(&tx, &full), 0);
    assert_int_equal(full.len, 460);
    assert_int_equal(ckb_tx_size_in_block(&tx), 464);
    assert_int_equal(ckb_min_fee_for_size(464, 1000), 464);
    /* witnesses are outside the tx hash */
    assert_int_equal(ckb_tx_hash(&tx, h), 0);
    assert_hex(h, 32, "0dea0d436ff2fe4ef630d0d2805611bf924cf5d84dba34a7e2e1ce0782b30188");

    ckb_buf_free(&raw);
    ckb_buf_free(&full);
    ckb_tx_free(&tx);
    assert_int_equal(tx.noutputs, 0);
    assert_null(tx.outputs);
}

/* sdkjs rawTransactionToHash fixture, in the node's JSON (a stale "hash" member is ignored). */
static const char SDKJS_TX_JSON[] =
    "{\"version\":\"0x0\","
    "\"cell_deps\":[{\"out_point\":{\"tx_hash\":"
    "\"0xc12386705b5cbb312b693874f3edf45c43a274482e27b8df0fd80c8d3f5feb8b\",\"index\":\"0x0\"},"
    "\"dep_type\":\"dep_group\"},"
    "{\"out_point\":{\"tx_hash\":"
    "\"0x0fb4945d52baf91e0dee2a686cdd9d84cad95b566a1d7409b970ee0a0f364f60\",\"index\":\"0x2\"},"
    "\"dep_type\":\"code\"}],"
    "\"header_deps\":[],"
    "\"inputs\":[{\"previous_output\":{\"tx_hash\":"
    "\"0x31f695263423a4b05045dd25ce6692bb55d7bba2965d8be16b036e138e72cc65\",\"index\":\"0x1\"},"
    "\"since\":\"0x0\"}],"
    "\"outputs\":[{\"capacity\":\"0x174876e800\",\"lock\":{\"code_hash\":"
    "\"0x68d5438ac952d2f584abf879527946a537e82c7f3c1cbf6d8ebf9767437d8e88\",\"args\":"
    "\"0x59a27ef3ba84f061517d13f42cf44ed020610061\",\"hash_type\":\"type\"},"
    "\"type\":{\"code_hash\":"
    "\"0xece45e0979030e2f8909f76258631c42333b1e906fd9701ec3600a464a90b8f6\",\"args\":\"0x\","
    "\"hash_type\":\"data\"}},"
    "{\"capacity\":\"0x59e1416a5000\",\"lock\":{\"code_hash\":"
    "\"0x68d5438ac952d2f584abf879527946a537e82c7f3c1cbf6d8ebf9767437d8e88\",\"args\":"
    "\"0x59a27ef3ba84f061517d13f42cf44ed020610061\",\"hash_type\":\"type\"},\"type\":null}],"
    "\"outputs_data\":[\"0x\",\"0x\"],"
    "\"witnesses\":[\"0x82df73581bcd08cb9aa270128d15e79996229ce8ea9e4f985b49fbf36762c5c37936caf3e"
    "a3784ee326f60b8992924fcf496f9503c907982525a3436f01ab32900\"],"
    "\"hash\":\"0x9d1bf801b235ce62812844f01381a070c0cc72876364861e00492eac1d8b54e7\"}";

static json_t *parse(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    if (j == NULL)
        fail_msg("bad test JSON: %s", e.text);
    return j;
}

static void test_sdkjs_tx_hash(void **state)
{
    json_t *j = parse(SDKJS_TX_JSON);
    struct ckb_tx tx;
    char err[128];
    uint8_t h[32];

    assert_int_equal(ckb_tx_from_json(j, &tx, err, sizeof(err)), 0);
    assert_int_equal(tx.ncell_deps, 2);
    assert_int_equal(tx.cell_deps[0].dep_type, CKB_DEP_TYPE_DEP_GROUP);
    assert_int_equal(tx.cell_deps[1].dep_type, CKB_DEP_TYPE_CODE);
    assert_int_equal(tx.noutputs, 2);
    assert_true(tx.outputs[0].has_type);
    assert_int_equal(tx.outputs[0].type.hash_type, CKB_HASH_TYPE_DATA);
    assert_false(tx.outputs[1].has_type);
    assert_int_equal(tx.outputs[1].capacity, 0x59e1416a5000ULL);
    assert_int_equal(tx.nwitnesses, 1);
    assert_int_equal(tx.witnesses[0].len, 65);
    assert_int_equal(ckb_tx_hash(&tx, h), 0);
    assert_hex(h, 32, "e765f9912b06c72552dae11779f6371309236e968aa045ae3b8f426d8ec8ca05");

    /* to_json gives back the same members except "hash" */
    {
        json_t *back = ckb_tx_to_json(&tx);
        assert_non_null(back);
        json_object_del(j, "hash");
        assert_true(json_equal(back, j));
        json_decref(back);
    }
    ckb_tx_free(&tx);
    json_decref(j);
}

static void test_two_in_two_out_size(void **state)
{
    /* Two inputs of two different default locks, each signed (two 85-byte witnesses), two
     * default-lock outputs: consensus's TWO_IN_TWO_OUT_BYTES = 597 is this molecule size. */
    struct ckb_tx tx;
    struct ckb_input in = {0};
    struct ckb_output o = {0};
    struct ckb_cell_dep d = {0};
    uint8_t lock[65], w[CKB_WITNESS_LOCK_LEN];
    struct ckb_buf b;

    ckb_tx_init(&tx);
    d.dep_type = CKB_DEP_TYPE_DEP_GROUP;
    assert_int_equal(ckb_tx_add_cell_dep(&tx, &d), 0);
    assert_int_equal(ckb_tx_add_input(&tx, &in), 0);
    in.previous_output.index = 1;
    assert_int_equal(ckb_tx_add_input(&tx, &in), 0);
    sighash_lock(&o.lock, "159890a7cacb44a95bef0743064433d763de229c");
    o.capacity = CKB_MIN_SECP_CELL_CAPACITY;
    assert_int_equal(ckb_tx_add_output(&tx, &o, NULL, 0), 0);
    assert_int_equal(ckb_tx_add_output(&tx, &o, NULL, 0), 0);
    memset(lock, 0x11, sizeof(lock));
    ckb_witness_args_lock(lock, w);
    assert_int_equal(ckb_tx_set_witness(&tx, 1, w, sizeof(w)), 0);
    assert_int_equal(tx.nwitnesses, 2);
    assert_int_equal(tx.witnesses[0].len, 0);
    assert_int_equal(ckb_tx_set_witness(&tx, 0, w, sizeof(w)), 0);
    b = ser(&tx);
    assert_int_equal(b.len, 597);
    assert_int_equal(ckb_tx_size_in_block(&tx), 601);
    ckb_buf_free(&b);
    ckb_tx_free(&tx);
}

static void test_size_in_block_matches_serializer(void **state)
{
    struct ckb_tx tx;
    struct ckb_output o = {0};
    uint8_t data[7] = {1, 2, 3, 4, 5, 6, 7};
    uint8_t hd[32] = {9};
    struct ckb_buf b;

    build_g1(&tx);
    o.capacity = 1;
    sighash_lock(&o.lock, "7f599d5e44c248e211aa1d1ff47276758cab96f4");
    o.has_type = 1;
    o.type = o.lock;
    o.type.args_len = 3;
    assert_int_equal(ckb_tx_add_output(&tx, &o, data, sizeof(data)), 0);
    assert_int_equal(ckb_tx_set_witness(&tx, 3, data, 5), 0);
    tx.header_deps = malloc(32);
    assert_non_null(tx.header_deps);
    memcpy(tx.header_deps[0], hd, 32);
    tx.nheader_deps = 1;
    b = ser(&tx);
    assert_int_equal(ckb_tx_size_in_block(&tx), b.len + 4);
    ckb_buf_free(&b);
    ckb_tx_free(&tx);
}

static void test_witness_args(void **state)
{
    uint8_t lock[65], w[CKB_WITNESS_LOCK_LEN];
    struct ckb_witness_args wa;
    static const char lock_prefix[] = "5500000010000000550000005500000041000000";
    uint8_t empty[16];

    for (int i = 0; i < 65; i++)
        lock[i] = (uint8_t)i;
    ckb_witness_args_lock(lock, w);
    assert_hex(w, 20, lock_prefix);
    assert_memory_equal(w + 20, lock, 65);
    assert_int_equal(ckb_witness_args_decode(w, sizeof(w), &wa), 0);
    assert_true(wa.has_lock);
    assert_false(wa.has_input_type);
    assert_false(wa.has_output_type);
    assert_int_equal(wa.lock_len, 65);
    assert_int_equal(wa.lock_offset, 20);
    assert_ptr_equal(wa.lock, w + 20);

    unhex("10000000100000001000000010000000", empty, 16);
    assert_int_equal(ckb_witness_args_decode(empty, sizeof(empty), &wa), 0);
    assert_false(wa.has_lock);

    /* truncated, over-long, a 2-field table, a broken BytesOpt */
    assert_int_equal(ckb_witness_args_decode(w, sizeof(w) - 1, &wa), -1);
    assert_int_equal(ckb_witness_args_decode(empty, 12, &wa), -1);
    {
        uint8_t two[12];
        unhex("0c0000000c0000000c000000", two, 12);
        assert_int_equal(ckb_witness_args_decode(two, sizeof(two), &wa), -1);
        uint8_t bad[CKB_WITNESS_LOCK_LEN];
        memcpy(bad, w, sizeof(bad));
        bad[16] = 0x40; /* Bytes length 64 in a 69-byte field */
        assert_int_equal(ckb_witness_args_decode(bad, sizeof(bad), &wa), -1);
        memcpy(bad, w, sizeof(bad));
        bad[4] = 0x14; /* first offset 20: a 4-field header */
        assert_int_equal(ckb_witness_args_decode(bad, sizeof(bad), &wa), -1);
    }
    assert_int_equal(ckb_witness_args_decode(NULL, 0, &wa), -1);
}

static void test_capacity_and_fee(void **state)
{
    struct ckb_output o = {0};

    sighash_lock(&o.lock, "159890a7cacb44a95bef0743064433d763de229c");
    assert_int_equal(ckb_output_occupied(&o, 0), CKB_MIN_SECP_CELL_CAPACITY);
    assert_int_equal(ckb_output_occupied(&o, 10), CKB_MIN_SECP_CELL_CAPACITY + 10 * 100000000ULL);
    o.has_type = 1;
    o.type.args_len = 32;
    assert_int_equal(ckb_output_occupied(&o, 0), (61ULL + 33 + 32) * 100000000ULL);

    assert_int_equal(ckb_fee_for_size(464, 1000), 464);
    assert_int_equal(ckb_fee_for_size(1001, 1), 2); /* rounded up */
    assert_int_equal(ckb_min_fee_for_size(1001, 1), 1);
    assert_int_equal(ckb_fee_for_size(1000, 1), 1);
    assert_int_equal(ckb_fee_for_size(0, 1000), 0);
    assert_int_equal(ckb_fee_for_size(597, 1500), 896);
    assert_int_equal(ckb_min_fee_for_size(597, 1500), 895);
    assert_true(ckb_fee_for_size(UINT64_MAX, UINT64_MAX) == UINT64_MAX);
}

static void test_json_uint(void **state)
{
    static const struct {
        uint64_t v;
        const char *s;
    } good[] = {
        {0, "0x0"}, {16, "0x10"}, {0xdeadbeef, "0xdeadbeef"}, {UINT64_MAX, "0xffffffffffffffff"}};
    static const char *const bad[] = {"0x01", "10",  "0x",   "0X10", "0xA",
                                      "0x1g", "",    "0x00", " 0x1", "0x10000000000000000",
                                      "-0x1", "0x+1"};
    uint64_t v;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        json_t *j = ckb_json_uint(good[i].v);
        assert_string_equal(json_string_value(j), good[i].s);
        assert_int_equal(ckb_json_parse_uint(j, UINT64_MAX, &v), 0);
        assert_true(v == good[i].v);
        json_decref(j);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *j = json_string(bad[i]);
        if (ckb_json_parse_uint(j, UINT64_MAX, &v) == 0)
            fail_msg("accepted Uint %s", bad[i]);
        json_decref(j);
    }
    {
        json_t *j = json_string("0x100000000"), *n = json_integer(1);
        assert_int_equal(ckb_json_parse_uint(j, UINT32_MAX, &v), -1);
        assert_int_equal(ckb_json_parse_uint(n, UINT64_MAX, &v), -1);
        json_decref(j);
        json_decref(n);
        j = json_string("0xffffffff");
        assert_int_equal(ckb_json_parse_uint(j, UINT32_MAX, &v), 0);
        json_decref(j);
    }
}

static void test_json_h256_and_bytes(void **state)
{
    uint8_t h[32];
    json_t *j;

    j = ckb_json_bytes(NULL, 0);
    assert_string_equal(json_string_value(j), "0x");
    json_decref(j);
    j = json_string("0x0DEA0D436FF2FE4EF630D0D2805611BF924CF5D84DBA34A7E2E1CE0782B30188");
    assert_int_equal(ckb_json_parse_h256(j, h), -1); /* uppercase refused */
    json_decref(j);
    j = json_string("0dea0d436ff2fe4ef630d0d2805611bf924cf5d84dba34a7e2e1ce0782b30188");
    assert_int_equal(ckb_json_parse_h256(j, h), -1); /* no 0x */
    json_decref(j);
    j = json_string("0x0dea0d436ff2fe4ef630d0d2805611bf924cf5d84dba34a7e2e1ce0782b301");
    assert_int_equal(ckb_json_parse_h256(j, h), -1); /* 31 bytes */
    json_decref(j);
    j = json_string("0x0dea0d436ff2fe4ef630d0d2805611bf924cf5d84dba34a7e2e1ce0782b30188");
    assert_int_equal(ckb_json_parse_h256(j, h), 0);
    json_decref(j);
    j = ckb_json_h256(h);
    assert_string_equal(json_string_value(j),
                        "0x0dea0d436ff2fe4ef630d0d2805611bf924cf5d84dba34a7e2e1ce0782b30188");
    json_decref(j);
}

static void test_script_json(void **state)
{
    struct ckb_script s, back;
    json_t *j;
    char err[128];

    sighash_lock(&s, "159890a7cacb44a95bef0743064433d763de229c");
    for (uint8_t ht = 0; ht < 6; ht++) {
        s.hash_type = ht;
        j = ckb_script_to_json(&s);
        if (ht == 3 || ht == 5) {
            assert_null(j); /* no JSON name */
            continue;
        }
        assert_non_null(j);
        assert_int_equal(ckb_script_from_json(j, &back, err, sizeof(err)), 0);
        assert_int_equal(back.hash_type, ht);
        assert_int_equal(back.args_len, 20);
        assert_memory_equal(back.args, s.args, 20);
        json_decref(j);
    }
    j = parse(
        "{\"code_hash\":\"0x9bd7e06f3ecf4be0f2fcd2188b23f1b9fcc88e5d4b65a8637b17723bbda3cce8\","
        "\"hash_type\":\"Type\",\"args\":\"0x\"}");
    assert_int_equal(ckb_script_from_json(j, &back, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "hash_type"));
    json_decref(j);
    j = parse(
        "{\"code_hash\":\"0x9bd7e06f3ecf4be0f2fcd2188b23f1b9fcc88e5d4b65a8637b17723bbda3cce8\","
        "\"hash_type\":\"type\",\"args\":\"0x1\"}");
    assert_int_equal(ckb_script_from_json(j, &back, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "args"));
    json_decref(j);
    j = parse(
        "{\"code_hash\":\"0x9bd7e06f3ecf4be0f2fcd2188b23f1b9fcc88e5d4b65a8637b17723bbda3cce8\","
        "\"hash_type\":\"type\",\"args\":\"0x\",\"extra\":1}");
    assert_int_equal(ckb_script_from_json(j, &back, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "extra"));
    json_decref(j);
}

/* Replaces the string at path (object keys, then optional array index -1 for none) in a copy of
 * the sdkjs JSON and expects decoding to fail naming want_field. */
static void expect_refusal(const char *from, const char *to, const char *want_field)
{
    char *s = strdup(SDKJS_TX_JSON), *at, *patched;
    size_t n;
    json_t *j;
    struct ckb_tx tx;
    char err[160] = "";

    assert_non_null(s);
    at = strstr(s, from);
    if (at == NULL)
        fail_msg("pattern %s not in the fixture", from);
    n = strlen(s) - strlen(from) + strlen(to) + 1;
    patched = malloc(n);
    assert_non_null(patched);
    memcpy(patched, s, (size_t)(at - s));
    strcpy(patched + (at - s), to);
    strcat(patched, at + strlen(from));
    j = parse(patched);
    if (ckb_tx_from_json(j, &tx, err, sizeof(err)) == 0)
        fail_msg("accepted %s -> %s", from, to);
    if (strstr(err, want_field) == NULL)
        fail_msg("error \"%s\" does not name %s", err, want_field);
    assert_null(tx.outputs);
    json_decref(j);
    free(patched);
    free(s);
}

static void test_tx_json_refusals(void **state)
{
    expect_refusal("\"version\":\"0x0\"", "\"version\":\"0x00\"", "version");
    expect_refusal("\"version\":\"0x0\"", "\"version\":\"0\"", "version");
    expect_refusal("\"version\":\"0x0\"", "\"version\":0", "version");
    expect_refusal("\"index\":\"0x2\"", "\"index\":\"0x02\"", "cell_deps[1].out_point");
    expect_refusal("\"index\":\"0x2\"", "\"index\":\"0x100000000\"", "cell_deps[1].out_point");
    expect_refusal("\"dep_type\":\"code\"", "\"dep_type\":\"Code\"", "cell_deps[1].dep_type");
    expect_refusal("\"dep_type\":\"dep_group\"", "\"dep_type\":\"depGroup\"",
                   "cell_deps[0].dep_type");
    expect_refusal("\"header_deps\":[]", "\"header_deps\":[\"0x00\"]", "header_deps[0]");
    expect_refusal("\"since\":\"0x0\"", "\"since\":\"10\"", "inputs[0].since");
    expect_refusal("\"capacity\":\"0x174876e800\"", "\"capacity\":\"0x174876E800\"",
                   "outputs[0].capacity");
    expect_refusal("\"capacity\":\"0x59e1416a5000\"", "\"capacity\":\"0x059e1416a5000\"",
                   "outputs[1].capacity");
    expect_refusal("\"hash_type\":\"data\"", "\"hash_type\":\"data3\"",
                   "outputs[0].type.hash_type");
    expect_refusal("\"args\":\"0x\"", "\"args\":\"0xZZ\"", "outputs[0].type.args");
    expect_refusal("\"type\":null", "\"type\":1", "outputs[1].type");
    expect_refusal("\"outputs_data\":[\"0x\",\"0x\"]", "\"outputs_data\":[\"0x\"]", "outputs_data");
    expect_refusal("\"outputs_data\":[\"0x\",\"0x\"]", "\"outputs_data\":[\"0x\",\"0x0\"]",
                   "outputs_data[1]");
    expect_refusal("\"witnesses\":[\"0x82", "\"witnesses\":[\"0X82", "witnesses[0]");
    expect_refusal("\"witnesses\":[", "\"extra\":1,\"witnesses\":[", "extra");
    expect_refusal("\"header_deps\":[],", "", "header_deps");
    expect_refusal("\"since\":\"0x0\"}", "\"since\":\"0x0\",\"x\":1}", "inputs[0].x");
}

static void test_molecule_round_trip_and_strictness(void **state)
{
    json_t *j = parse(SDKJS_TX_JSON);
    struct ckb_tx a, b;
    struct ckb_buf x;
    char err[128];

    assert_int_equal(ckb_tx_from_json(j, &a, err, sizeof(err)), 0);
    x = ser(&a);
    assert_int_equal(ckb_tx_decode(x.p, x.len, &b, err, sizeof(err)), 0);
    assert_tx_equal(&a, &b);
    assert_true(b.outputs[0].has_type);
    assert_false(b.outputs[1].has_type);
    ckb_tx_free(&b);

    /* every truncation, and one extra byte, is refused */
    for (size_t n = 0; n < x.len; n++)
        if (ckb_tx_decode(x.p, n, &b, err, sizeof(err)) == 0)
            fail_msg("accepted a %zu-byte prefix", n);
    {
        struct ckb_buf y = {0};
        uint8_t zero = 0;
        assert_int_equal(ckb_buf_append(&y, x.p, x.len), 0);
        assert_int_equal(ckb_buf_append(&y, &zero, 1), 0);
        assert_int_equal(ckb_tx_decode(y.p, y.len, &b, err, sizeof(err)), -1);
        /* the total size patched to match, the extra byte still belongs to no field */
        y.p[0] = (uint8_t)(y.len & 0xff);
        y.p[1] = (uint8_t)(y.len >> 8);
        assert_int_equal(ckb_tx_decode(y.p, y.len, &b, err, sizeof(err)), -1);
        ckb_buf_free(&y);
    }
    /* every single-byte change in the headers either fails or decodes to a re-serializable tx */
    for (size_t i = 0; i < x.len; i++) {
        uint8_t saved = x.p[i];
        x.p[i] ^= 0x04;
        if (ckb_tx_decode(x.p, x.len, &b, err, sizeof(err)) == 0) {
            struct ckb_buf z = ser(&b);
            assert_int_equal(z.len, x.len);
            assert_memory_equal(z.p, x.p, x.len);
            ckb_buf_free(&z);
            ckb_tx_free(&b);
        }
        x.p[i] = saved;
    }
    /* a hash_type byte outside {0,1,2,4} decodes (the verifier judges it) but has no JSON */
    {
        a.outputs[1].lock.hash_type = 3;
        struct ckb_buf y = ser(&a);
        assert_int_equal(ckb_tx_decode(y.p, y.len, &b, err, sizeof(err)), 0);
        assert_int_equal(b.outputs[1].lock.hash_type, 3);
        assert_null(ckb_tx_to_json(&b));
        ckb_tx_free(&b);
        ckb_buf_free(&y);
    }
    ckb_buf_free(&x);
    ckb_tx_free(&a);
    json_decref(j);
}

static void test_empty_tx_round_trips(void **state)
{
    struct ckb_tx a, b;
    struct ckb_buf x;
    char err[64];
    json_t *j;

    ckb_tx_init(&a);
    x = ser(&a);
    /* 12 + (28 + 4 + 4 + 4 + 4 + 4 + 4) + 4 */
    assert_int_equal(x.len, 68);
    assert_int_equal(ckb_tx_size_in_block(&a), 72);
    assert_int_equal(ckb_tx_decode(x.p, x.len, &b, err, sizeof(err)), 0);
    assert_tx_equal(&a, &b);
    j = ckb_tx_to_json(&b);
    assert_non_null(j);
    ckb_tx_free(&b);
    assert_int_equal(ckb_tx_from_json(j, &b, err, sizeof(err)), 0);
    assert_tx_equal(&a, &b);
    ckb_tx_free(&b);
    json_decref(j);
    ckb_buf_free(&x);
}

static void test_script_hash_and_serialize(void **state)
{
    struct ckb_script s;
    struct ckb_buf b = {0};
    uint8_t h[32];

    memset(&s, 0, sizeof(s));
    unhex("1892ea40d82b53c678ff88312450bbb17e164d7a3e0a90941aa58839f56f8df2", s.code_hash, 32);
    s.hash_type = CKB_HASH_TYPE_TYPE;
    s.args_len = 20;
    unhex("edb5c73f2a4ad8df23467c9f3446f5851b5e33da", s.args, 20);
    ckb_script_hash(&s, h);
    assert_hex(h, 32, "c6a5303d5fb970e2bd4e81e984c0a52b7bc5b42ab2b777583ea2cb74868f5708");
    assert_int_equal(ckb_script_serialize(&s, &b), 0);
    assert_int_equal(b.len, 73);
    ckb_buf_free(&b);
    s.args_len = CKB_SCRIPT_ARGS_MAX + 1;
    assert_int_equal(ckb_script_serialize(&s, &b), -1);
    ckb_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_g1_raw_bytes_and_hash),
        cmocka_unit_test(test_sdkjs_tx_hash),
        cmocka_unit_test(test_two_in_two_out_size),
        cmocka_unit_test(test_size_in_block_matches_serializer),
        cmocka_unit_test(test_witness_args),
        cmocka_unit_test(test_capacity_and_fee),
        cmocka_unit_test(test_json_uint),
        cmocka_unit_test(test_json_h256_and_bytes),
        cmocka_unit_test(test_script_json),
        cmocka_unit_test(test_tx_json_refusals),
        cmocka_unit_test(test_molecule_round_trip_and_strictness),
        cmocka_unit_test(test_empty_tx_round_trips),
        cmocka_unit_test(test_script_hash_and_serialize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
