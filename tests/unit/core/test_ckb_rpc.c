/* Unit tests for core/ckb_rpc.c: the §9 error classification on the node's real message forms, the
 * Lina and Aggron deployment constants, every decoder on answers shaped as
 * ../shared/reference/ckb-onchain.md §8 shows them (and on malformed ones), and the client end to
 * end against a small JSON-RPC responder on the test's own loop that records what it was sent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/ckb_rpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/crypto.h"
#include "core/mem.h"

#define SIGHASH "0x9bd7e06f3ecf4be0f2fcd2188b23f1b9fcc88e5d4b65a8637b17723bbda3cce8"
#define ARGS "0xb39bbc0b3673c7d36450bc14cfcdad2d559c6c64"
#define TXH "0x62f634d380484b56cee28c166f55ffc562129f0ef5311618396bbb979b806ab5"
#define BLKH "0xace5ea83c478bb866edf122ff862085789158f5cbff155b7bb5f13058555b708"
#define LOCK_JSON "{\"code_hash\":\"" SIGHASH "\",\"hash_type\":\"type\",\"args\":\"" ARGS "\"}"
#define TYPE_ID "0x00000000000000000000000000000000000000000000000000545950455f4944"

static json_t *parse(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &e);
    if (j == NULL)
        fail_msg("bad test JSON: %s (%s)", e.text, s);
    return j;
}

static void unhex(const char *s, uint8_t *out, size_t n)
{
    if (strncmp(s, "0x", 2) == 0)
        s += 2;
    if (strlen(s) != 2 * n || hex_decode(s, 2 * n, out, n) != 0)
        fail_msg("bad test hex %s", s);
}

static void our_lock(struct ckb_script *s)
{
    memset(s, 0, sizeof *s);
    unhex(SIGHASH, s->code_hash, 32);
    s->hash_type = CKB_HASH_TYPE_TYPE;
    s->args_len = 20;
    unhex(ARGS, s->args, 20);
}

/* ---- classification ---- */

static void test_classify(void **state)
{
    static const struct {
        int code;
        const char *msg;
        enum ckb_outcome want;
    } table[] = {
        {-1107,
         "PoolRejectedDuplicatedTransaction: "
         "Transaction(Byte32(0x0dea0d436ff2fe4ef630d0d2805611bf924"
         "cf5d84dba34a7e2e1ce0782b30188)) already exists in transaction_pool",
         CKB_DUPLICATE},
        {-301,
         "TransactionFailedToResolve: Resolve failed "
         "Unknown(OutPoint(0x62f634d380484b56cee28c166f55"
         "ffc562129f0ef5311618396bbb979b806ab501000000))",
         CKB_DEAD_INPUT},
        {-301,
         "TransactionFailedToResolve: Resolve failed Dead(OutPoint(0x62f634d380484b56cee28c166f55ff"
         "c562129f0ef5311618396bbb979b806ab501000000))",
         CKB_DEAD_INPUT},
        {-301,
         "TransactionFailedToResolve: Resolve failed InvalidDepGroup(OutPoint(0xf8de3bb47d055cdf460"
         "d93a2a6e1b05f7432f9777c8c474abf4eec1d4aee5d3700000000))",
         CKB_DEAD_INPUT},
        {-1104,
         "PoolRejectedTransactionByMinFeeRate: The min fee rate is 1000 shannons/KW, requiring a "
         "transaction fee of at least 464 shannons, but the fee provided is only 100",
         CKB_LOW_FEE},
        {-1111,
         "PoolRejectedRBF: RBF rejected: Tx's current fee is 464, expect it to >= 1000 to replace "
         "old txs",
         CKB_RBF_REJECTED},
        {-302,
         "TransactionFailedToVerify: Verification failed Script(TransactionScriptError { source: "
         "Inputs[0].Lock, cause: ValidationFailure: see error code -31 on page "
         "https://nervosnetwork.github.io/ckb-script-error-codes/by-type-hash/"
         "9bd7e06f3ecf4be0f2fcd2188b23f1b9fcc88e5d4b65a8637b17723bbda3cce8.html#-31 })",
         CKB_VERIFY_FAILED},
        {-302,
         "TransactionFailedToVerify: Verification failed Transaction(InsufficientCellCapacity("
         "Outputs[0]): expected occupied capacity (0x16b969d00) <= capacity (0x5f5e100))",
         CKB_VERIFY_FAILED},
        {-1108, "PoolRejectedMalformedTransaction: Malformed Overflow transaction",
         CKB_VERIFY_FAILED},
        {-1110,
         "PoolRejectedTransactionBySizeLimit: Transaction size 600000 exceeded maximum limit "
         "512000",
         CKB_VERIFY_FAILED},
        {-1105,
         "PoolRejectedTransactionByMaxAncestorsCountLimit: Transaction exceeded maximum ancestors "
         "count limit; try later",
         CKB_TRANSIENT},
        {-1106, "PoolIsFull: Transaction are replaced because the pool is full", CKB_TRANSIENT},
        {-1109, "TransactionExpired: Transaction expired", CKB_TRANSIENT},
        {-1112, "PoolRejectedInvalidated: Transaction is invalidated", CKB_TRANSIENT},
        {-1102,
         "PoolRejectedTransactionByOutputsValidator: the transaction is rejected by "
         "OutputsValidator set in params[1]: well_known_scripts_only",
         CKB_ERROR},
        {-32602, "Invalid params", CKB_ERROR},
        {-32601, "Method not found", CKB_ERROR},
        {-1, "CKBInternalError: internal", CKB_ERROR},
        {-1107, NULL, CKB_DUPLICATE},
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(table); i++) {
        enum ckb_outcome got = ckb_classify_error(table[i].code, table[i].msg);
        if (got != table[i].want)
            fail_msg("row %zu (%d) classified %s, want %s", i, table[i].code, ckb_outcome_name(got),
                     ckb_outcome_name(table[i].want));
    }
    assert_string_equal(ckb_outcome_name(CKB_OK), "ok");
    assert_string_equal(ckb_outcome_name(CKB_DUPLICATE), "duplicate");
    assert_string_equal(ckb_outcome_name(CKB_VERIFY_FAILED), "verify_failed");
    assert_string_equal(ckb_outcome_name((enum ckb_outcome)99), "error");
}

/* ---- deployment constants ---- */

static void test_sighash_dep_constants(void **state)
{
    struct ckb_sighash_dep d;
    uint8_t want[32];
    assert_int_equal(ckb_sighash_dep_for_network(CKB_MAINNET, &d), 0);
    unhex(SIGHASH, want, 32);
    assert_memory_equal(d.code_hash, want, 32);
    unhex("0x71a7ba8fc96349fea0ed3a5c47992e3b4084b031a42264a018e0072e8172e46c", want, 32);
    assert_memory_equal(d.dep.out_point.tx_hash, want, 32);
    assert_int_equal(d.dep.out_point.index, 0);
    assert_int_equal(d.dep.dep_type, CKB_DEP_TYPE_DEP_GROUP);

    assert_int_equal(ckb_sighash_dep_for_network(CKB_TESTNET, &d), 0);
    unhex(SIGHASH, want, 32);
    assert_memory_equal(d.code_hash, want, 32);
    unhex("0xf8de3bb47d055cdf460d93a2a6e1b05f7432f9777c8c474abf4eec1d4aee5d37", want, 32);
    assert_memory_equal(d.dep.out_point.tx_hash, want, 32);
    assert_int_equal(d.dep.out_point.index, 0);
    assert_int_equal(d.dep.dep_type, CKB_DEP_TYPE_DEP_GROUP);

    assert_int_equal(ckb_sighash_dep_for_network(CKB_DEVNET, &d), -1);
}

/* ---- get_transaction ---- */

static void test_tx_state_committed(void **state)
{
    json_t *r = parse(
        "{\"transaction\":{\"version\":\"0x0\",\"cell_deps\":[],\"header_deps\":[],\"inputs\":[],"
        "\"outputs\":[],\"outputs_data\":[],\"witnesses\":[],\"hash\":\"" TXH "\"},"
        "\"cycles\":\"0x1b4b7e\",\"fee\":\"0x1d0\",\"min_replace_fee\":null,"
        "\"time_added_to_pool\":\"0x18c2f3e8a21\",\"tx_status\":{\"status\":\"committed\","
        "\"block_number\":\"0x5b\",\"block_hash\":\"" BLKH "\",\"tx_index\":\"0x1\","
        "\"reason\":null}}");
    struct ckb_tx_state s;
    uint8_t want[32];
    assert_int_equal(ckb_tx_state_decode(r, &s), 0);
    assert_int_equal(s.status, CKB_TX_COMMITTED);
    assert_int_equal(s.block_number, 0x5b);
    unhex(BLKH, want, 32);
    assert_memory_equal(s.block_hash, want, 32);
    assert_null(s.reason);
    json_decref(r);
}

static void test_tx_state_pending_proposed_unknown(void **state)
{
    static const struct {
        const char *json;
        enum ckb_tx_status want;
    } rows[] = {
        {"{\"transaction\":{\"hash\":\"" TXH "\"},\"cycles\":null,\"fee\":\"0x1d0\","
         "\"min_replace_fee\":\"0x3a1\",\"time_added_to_pool\":\"0x18c2f3e8a21\","
         "\"tx_status\":{\"status\":\"pending\",\"block_number\":null,\"block_hash\":null,"
         "\"tx_index\":null,\"reason\":null}}",
         CKB_TX_PENDING},
        {"{\"transaction\":{\"hash\":\"" TXH "\"},\"tx_status\":{\"status\":\"proposed\","
         "\"block_number\":null,\"block_hash\":null,\"reason\":null}}",
         CKB_TX_PROPOSED},
        {"{\"transaction\":null,\"cycles\":null,\"time_added_to_pool\":null,\"tx_status\":{"
         "\"status\":\"unknown\",\"block_number\":null,\"block_hash\":null,\"tx_index\":null,"
         "\"reason\":null}}",
         CKB_TX_UNKNOWN},
        /* nodes before 0.105 answered null for an unknown transaction */
        {"null", CKB_TX_UNKNOWN},
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(rows); i++) {
        json_t *r = parse(rows[i].json);
        struct ckb_tx_state s;
        if (ckb_tx_state_decode(r, &s) != 0)
            fail_msg("row %zu refused", i);
        assert_int_equal(s.status, rows[i].want);
        assert_int_equal(s.block_number, 0);
        assert_null(s.reason);
        json_decref(r);
    }
}

static void test_tx_state_rejected(void **state)
{
    json_t *r = parse("{\"transaction\":null,\"tx_status\":{\"status\":\"rejected\","
                      "\"block_number\":null,\"block_hash\":null,\"reason\":\"{\\\"type\\\":"
                      "\\\"Resolve\\\",\\\"description\\\":\\\"Resolve failed Dead(OutPoint(0x62f6"
                      "))\\\"}\"}}");
    struct ckb_tx_state s;
    assert_int_equal(ckb_tx_state_decode(r, &s), 0);
    assert_int_equal(s.status, CKB_TX_REJECTED);
    assert_non_null(s.reason);
    assert_non_null(strstr(s.reason, "\"type\":\"Resolve\""));
    json_decref(r);

    r = parse("{\"tx_status\":{\"status\":\"rejected\",\"reason\":null}}");
    assert_int_equal(ckb_tx_state_decode(r, &s), 0);
    assert_int_equal(s.status, CKB_TX_REJECTED);
    assert_null(s.reason);
    json_decref(r);
}

static void test_tx_state_malformed(void **state)
{
    static const char *const bad[] = {
        "[]",
        "\"committed\"",
        "{}",
        "{\"tx_status\":null}",
        "{\"tx_status\":{}}",
        "{\"tx_status\":{\"status\":\"Committed\",\"block_number\":\"0x1\",\"block_hash\":\"" BLKH
        "\"}}",
        "{\"tx_status\":{\"status\":\"finalized\"}}",
        "{\"tx_status\":{\"status\":7}}",
        /* committed without where */
        "{\"tx_status\":{\"status\":\"committed\",\"block_number\":null,\"block_hash\":\"" BLKH
        "\"}}",
        "{\"tx_status\":{\"status\":\"committed\",\"block_number\":\"0x5b\",\"block_hash\":null}}",
        "{\"tx_status\":{\"status\":\"committed\",\"block_number\":\"0x5b\"}}",
        /* badly encoded numbers and hashes */
        "{\"tx_status\":{\"status\":\"committed\",\"block_number\":\"0x05b\",\"block_hash\":\"" BLKH
        "\"}}",
        "{\"tx_status\":{\"status\":\"committed\",\"block_number\":91,\"block_hash\":\"" BLKH
        "\"}}",
        "{\"tx_status\":{\"status\":\"committed\",\"block_number\":\"0x5b\",\"block_hash\":"
        "\"0xace5\"}}",
        "{\"tx_status\":{\"status\":\"rejected\",\"reason\":{\"type\":\"Resolve\"}}}",
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(bad); i++) {
        json_t *r = parse(bad[i]);
        struct ckb_tx_state s;
        if (ckb_tx_state_decode(r, &s) != -1)
            fail_msg("accepted malformed tx state #%zu", i);
        json_decref(r);
    }
}

/* ---- get_cells ---- */

#define CELL(idx, cap, blk, extra)                                                                 \
    "{\"block_number\":\"" blk "\",\"out_point\":{\"index\":\"" idx "\",\"tx_hash\":\"" TXH        \
    "\"},\"output\":{\"capacity\":\"" cap "\",\"lock\":" LOCK_JSON ",\"type\":null}," extra        \
    "\"tx_index\":\"0x1\"}"

static void test_cells_page(void **state)
{
    json_t *r = parse("{\"last_cursor\":\"0x409bd7e06f3ecf4be0f2fcd2188b23f1b9fcc88e5d4b65a8637b1"
                      "7723bbda3cce801b39bbc0b3673c7d36450bc14cfcdad2d559c6c6400000000000000050000"
                      "000100000000\",\"objects\":[" CELL(
                          "0x0", "0x2540be400", "0x5",
                          "\"output_data\":\"0x\",") "," CELL("0x1", "0xe4ec6a1e40", "0x1a",
                                                              "\"output_data\":null,") "]}");
    struct ckb_script lock;
    our_lock(&lock);
    struct ckb_live_cell *cells;
    int n;
    const char *cursor;
    uint8_t want[32];
    unhex(TXH, want, 32);
    assert_int_equal(ckb_cells_page_decode(r, &lock, 2, &cells, &n, &cursor), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(cells[0].out_point.tx_hash, want, 32);
    assert_int_equal(cells[0].out_point.index, 0);
    assert_int_equal(cells[0].capacity, 10000000000ULL);
    assert_int_equal(cells[0].block_number, 5);
    assert_int_equal(cells[1].out_point.index, 1);
    assert_int_equal(cells[1].capacity, 0xe4ec6a1e40ULL);
    assert_int_equal(cells[1].block_number, 0x1a);
    assert_non_null(cursor);
    assert_true(strncmp(cursor, "0x409bd7", 8) == 0);
    free(cells);

    /* more objects than asked for */
    assert_int_equal(ckb_cells_page_decode(r, &lock, 1, &cells, &n, &cursor), -1);
    assert_null(cells);
    /* another lock than asked for */
    struct ckb_script other = lock;
    other.args[19] ^= 1;
    assert_int_equal(ckb_cells_page_decode(r, &other, 2, &cells, &n, &cursor), -1);
    /* no lock check asked */
    assert_int_equal(ckb_cells_page_decode(r, NULL, 2, &cells, &n, &cursor), 0);
    free(cells);
    json_decref(r);

    /* the last, empty page */
    r = parse("{\"last_cursor\":\"0x\",\"objects\":[]}");
    assert_int_equal(ckb_cells_page_decode(r, &lock, 100, &cells, &n, &cursor), 0);
    assert_int_equal(n, 0);
    assert_null(cells);
    assert_string_equal(cursor, "0x");
    json_decref(r);
}

static void test_cells_page_malformed(void **state)
{
    static const char *const bad[] = {
        "null",
        "[]",
        "{\"objects\":[]}",
        "{\"last_cursor\":null,\"objects\":[]}",
        "{\"last_cursor\":\"0x\",\"objects\":{}}",
        "{\"last_cursor\":\"0x\",\"objects\":[1]}",
        /* leading zero, decimal, beyond 64 bits */
        "{\"last_cursor\":\"0x\",\"objects\":[" CELL("0x0", "0x02540be400", "0x5", "") "]}",
        "{\"last_cursor\":\"0x\",\"objects\":[" CELL("0x0", "10000000000", "0x5", "") "]}",
        "{\"last_cursor\":\"0x\",\"objects\":[" CELL("0x0", "0x10000000000000000", "0x5", "") "]}",
        "{\"last_cursor\":\"0x\",\"objects\":[" CELL("0x0", "0x2540be400", "5", "") "]}",
        "{\"last_cursor\":\"0x\",\"objects\":[" CELL("0x100000000", "0x2540be400", "0x5", "") "]}",
        /* a cell with data, or with a type script, is not a plain cell */
        "{\"last_cursor\":\"0x\",\"objects\":[" CELL("0x0", "0x2540be400", "0x5",
                                                     "\"output_data\":\"0x00\",") "]}",
        "{\"last_cursor\":\"0x\",\"objects\":[{\"block_number\":\"0x5\",\"out_point\":{\"index\":"
        "\"0x0\",\"tx_hash\":\"" TXH
        "\"},\"output\":{\"capacity\":\"0x2540be400\",\"lock\":" LOCK_JSON ",\"type\":" LOCK_JSON
        "},\"output_data\":\"0x\"}]}",
        /* missing parts */
        "{\"last_cursor\":\"0x\",\"objects\":[{\"block_number\":\"0x5\",\"output\":{\"capacity\":"
        "\"0x2540be400\",\"lock\":" LOCK_JSON "}}]}",
        "{\"last_cursor\":\"0x\",\"objects\":[{\"out_point\":{\"index\":\"0x0\",\"tx_hash\":\"" TXH
        "\"},\"output\":{\"capacity\":\"0x2540be400\",\"lock\":" LOCK_JSON "}}]}",
        "{\"last_cursor\":\"0x\",\"objects\":[{\"block_number\":\"0x5\",\"out_point\":{\"index\":"
        "\"0x0\",\"tx_hash\":\"" TXH "\"},\"output\":{\"lock\":" LOCK_JSON "}}]}",
        "{\"last_cursor\":\"0x\",\"objects\":[{\"block_number\":\"0x5\",\"out_point\":{\"index\":"
        "\"0x0\",\"tx_hash\":\"" TXH "\"},\"output\":{\"capacity\":\"0x2540be400\"}}]}",
    };
    struct ckb_script lock;
    our_lock(&lock);
    for (size_t i = 0; i < FL_ARRAY_LEN(bad); i++) {
        json_t *r = parse(bad[i]);
        struct ckb_live_cell *cells = (void *)1;
        int n = -1;
        const char *cursor = "x";
        if (ckb_cells_page_decode(r, &lock, 10, &cells, &n, &cursor) != -1)
            fail_msg("accepted malformed page #%zu", i);
        assert_null(cells);
        assert_int_equal(n, 0);
        json_decref(r);
    }
}

/* ---- genesis ---- */

#define TYPE_ARGS "0xb2a8500929d6a1294bf9bf1bf565f549fa4a5f1316a3306ad3d4783e64bcf626"
#define GROUP_TX "0xace5ea83c478bb866edf122ff862085789158f5cbff155b7bb5f13058555b708"

static const char *genesis_json(const char *number, const char *type, const char *group_hash)
{
    static char buf[4096];
    snprintf(buf, sizeof buf,
             "{\"header\":{\"compact_target\":\"0x20010000\",\"dao\":\"0x0\",\"epoch\":\"0x0\","
             "\"hash\":\"0x4c9b3ee5a6c8f4d77b70c9b4e5e0e1d41f0c0b94f8e0dce1e1f4a2ad5c48d6a1\","
             "\"number\":\"%s\",\"parent_hash\":\"0x%064d\",\"timestamp\":\"0x0\"},"
             "\"uncles\":[],\"proposals\":[],\"transactions\":["
             "{\"version\":\"0x0\",\"cell_deps\":[],\"header_deps\":[],\"inputs\":[{\"since\":"
             "\"0x0\",\"previous_output\":{\"tx_hash\":\"0x%064d\",\"index\":\"0xffffffff\"}}],"
             "\"outputs\":[{\"capacity\":\"0x0\",\"lock\":{\"code_hash\":\"0x%064d\",\"hash_type\":"
             "\"data\",\"args\":\"0x\"},\"type\":null},{\"capacity\":\"0x5e9f53e00\",\"lock\":{"
             "\"code_hash\":\"0x%064d\",\"hash_type\":\"data\",\"args\":\"0x\"},\"type\":%s}],"
             "\"outputs_data\":[\"0x\",\"0x\"],\"witnesses\":[],\"hash\":"
             "\"0x8f8c79eb6671709633fe6a46de93c0fedc9c1b8a6527a18d3983879542635c9f\"}%s%s%s]}",
             number, 0, 0, 0, 0, type,
             group_hash != NULL ? ",{\"version\":\"0x0\",\"cell_deps\":"
                                  "[],\"header_deps\":[],\"inputs\":[],"
                                  "\"outputs\":[],\"outputs_data\":[],"
                                  "\"witnesses\":[],\"hash\":\""
                                : "",
             group_hash != NULL ? group_hash : "", group_hash != NULL ? "\"}" : "");
    return buf;
}

static void test_genesis_decode(void **state)
{
    static const char type[] =
        "{\"code_hash\":\"" TYPE_ID "\",\"hash_type\":\"type\",\"args\":\"" TYPE_ARGS "\"}";
    json_t *b = parse(genesis_json("0x0", type, GROUP_TX));
    struct ckb_sighash_dep d;
    assert_int_equal(ckb_genesis_sighash_dep_decode(b, &d), 0);
    /* the expected code hash: the script hash of that Type ID script, built here by hand */
    struct ckb_script s = {.hash_type = CKB_HASH_TYPE_TYPE, .args_len = 32};
    unhex(TYPE_ID, s.code_hash, 32);
    unhex(TYPE_ARGS, s.args, 32);
    uint8_t want[32];
    ckb_script_hash(&s, want);
    assert_memory_equal(d.code_hash, want, 32);
    unhex(GROUP_TX, want, 32);
    assert_memory_equal(d.dep.out_point.tx_hash, want, 32);
    assert_int_equal(d.dep.out_point.index, 0);
    assert_int_equal(d.dep.dep_type, CKB_DEP_TYPE_DEP_GROUP);
    json_decref(b);

    /* another Type ID args, another code hash */
    static const char type2[] = "{\"code_hash\":\"" TYPE_ID "\",\"hash_type\":\"type\","
                                "\"args\":\"0x00\"}";
    b = parse(genesis_json("0x0", type2, GROUP_TX));
    struct ckb_sighash_dep d2;
    assert_int_equal(ckb_genesis_sighash_dep_decode(b, &d2), 0);
    assert_memory_not_equal(d2.code_hash, d.code_hash, 32);
    json_decref(b);

    const char *const bad[] = {
        genesis_json("0x0", "null", GROUP_TX), /* output 1 has no type */
        genesis_json("0x1", type, GROUP_TX),   /* not the genesis block */
        genesis_json("0x0", type, NULL),       /* no dep group transaction */
        genesis_json("0x0", type, "0xace5"),   /* its hash is no H256 */
        genesis_json("0x0",
                     "{\"code_hash\":\"" TYPE_ID "\",\"hash_type\":\"kind\",\"args\":"
                     "\"0x\"}",
                     GROUP_TX), /* the type does not decode */
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(bad); i++) {
        b = parse(bad[i]);
        if (ckb_genesis_sighash_dep_decode(b, &d) != -1)
            fail_msg("accepted malformed genesis #%zu", i);
        json_decref(b);
    }
    static const char *const bad2[] = {
        "null",
        "[]",
        "{}",
        "{\"header\":{\"number\":\"0x0\"},\"transactions\":[]}",
        "{\"header\":{\"number\":\"0x0\"},\"transactions\":[{\"outputs\":[]},{\"hash\":\"" GROUP_TX
        "\"}]}",
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(bad2); i++) {
        b = parse(bad2[i]);
        if (ckb_genesis_sighash_dep_decode(b, &d) != -1)
            fail_msg("accepted malformed genesis #%zu", FL_ARRAY_LEN(bad) + i);
        json_decref(b);
    }
}

/* ---- a JSON-RPC responder on the test's loop ---- */

struct responder {
    struct ev_loop *loop;
    int fd, port;
    ev_io accept_io;
    struct conn *conns;
    json_t *last;         /* the last request received */
    char send_result[80]; /* send_transaction's answer: a hash, or "" for -1107 */
    int http_status;      /* non-zero: answer every request with this status and no JSON */
    const char *hang;     /* a method never answered ("*": all) */
};

struct conn {
    struct responder *r;
    struct conn *prev, *next;
    int fd;
    ev_io io;
    char in[1 << 16];
    size_t inlen;
    char *out;
    size_t outlen, outoff;
};

static void conn_close(struct conn *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        c->r->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    ev_io_stop(c->r->loop, &c->io);
    close(c->fd);
    free(c->out);
    free(c);
}

static void conn_write(struct ev_loop *loop, ev_io *w, int revents)
{
    struct conn *c = container_of(w, struct conn, io);
    while (c->outoff < c->outlen) {
        ssize_t n = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0)
            break;
        c->outoff += (size_t)n;
    }
    conn_close(c);
}

static void conn_reply(struct conn *c, int status, const char *body)
{
    c->out = xasprintf("HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                       "Connection: close\r\n\r\n%s",
                       status, strlen(body), body);
    c->outlen = strlen(c->out);
    ev_io_stop(c->r->loop, &c->io);
    ev_io_init(&c->io, conn_write, c->fd, EV_WRITE);
    ev_io_start(c->r->loop, &c->io);
}

/* Answers by method, as a node would for the cases the tests need. */
static void conn_answer(struct conn *c, const char *body, size_t len)
{
    struct responder *r = c->r;
    json_decref(r->last);
    r->last = json_loadb(body, len, 0, NULL);
    const char *method = json_string_value(json_object_get(r->last, "method"));
    json_int_t id = json_integer_value(json_object_get(r->last, "id"));
    char *out = NULL;
    if (r->hang != NULL &&
        (strcmp(r->hang, "*") == 0 || (method != NULL && strcmp(method, r->hang) == 0)))
        return;
    if (r->http_status != 0) {
        conn_reply(c, r->http_status, "<html>bad gateway</html>");
        return;
    }
    if (method != NULL && strcmp(method, "get_tip_block_number") == 0) {
        out = xasprintf("{\"jsonrpc\":\"2.0\",\"result\":\"0x1a2b\",\"id\":%lld", (long long)id);
    } else if (method != NULL && strcmp(method, "send_transaction") == 0) {
        if (r->send_result[0] != '\0')
            out = xasprintf("{\"jsonrpc\":\"2.0\",\"result\":\"%s\",\"id\":%lld", r->send_result,
                            (long long)id);
        else
            out = xasprintf(
                "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-1107,\"message\":"
                "\"PoolRejectedDuplicatedTransaction: Transaction(Byte32(" TXH
                ")) already exists in transaction_pool\",\"data\":\"Duplicated(Byte32(" TXH
                "))\"},\"id\":%lld",
                (long long)id);
    } else if (method != NULL && strcmp(method, "get_cells") == 0) {
        out = xasprintf(
            "{\"jsonrpc\":\"2.0\",\"result\":{\"last_cursor\":\"0x01\",\"objects\":[" CELL(
                "0x0", "0x2540be400", "0x5", "\"output_data\":\"0x\",") "]},"
                                                                        "\"id\":%lld",
            (long long)id);
    } else if (method != NULL && strcmp(method, "get_block_by_number") == 0) {
        const char *n = json_string_value(json_array_get(json_object_get(r->last, "params"), 0));
        if (n != NULL && strcmp(n, "0x64") == 0)
            out = xasprintf("{\"jsonrpc\":\"2.0\",\"result\":null,\"id\":%lld", (long long)id);
        else
            out = xasprintf("{\"jsonrpc\":\"2.0\",\"result\":{\"header\":{\"number\":\"%s\","
                            "\"hash\":\"" BLKH "\"},\"transactions\":[],\"uncles\":[],"
                            "\"proposals\":[]},\"id\":%lld",
                            n == NULL                ? ""
                            : strcmp(n, "0x65") == 0 ? "0x66" /* a node out of step */
                                                     : n,
                            (long long)id);
    } else if (method != NULL && strcmp(method, "get_transaction") == 0) {
        out = xasprintf("{\"jsonrpc\":\"2.0\",\"result\":{\"transaction\":null,\"tx_status\":{"
                        "\"status\":\"committed\",\"block_number\":\"0x5b\",\"block_hash\":\"" BLKH
                        "\"}},\"id\":%lld",
                        (long long)id);
    } else if (method != NULL && strcmp(method, "get_blockchain_info") == 0) {
        out = xasprintf("{\"jsonrpc\":\"2.0\",\"result\":{\"chain\":\"ckb_dev\",\"epoch\":\"0x0\"},"
                        "\"id\":%lld",
                        (long long)id);
    } else {
        out = xasprintf("{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32601,\"message\":\"Method not "
                        "found\"},\"id\":%lld",
                        (long long)id);
    }
    char *full = xasprintf("%s}", out);
    conn_reply(c, 200, full);
    free(full);
    free(out);
}

static void conn_read(struct ev_loop *loop, ev_io *w, int revents)
{
    struct conn *c = container_of(w, struct conn, io);
    ssize_t n = read(c->fd, c->in + c->inlen, sizeof c->in - 1 - c->inlen);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n <= 0) {
        conn_close(c);
        return;
    }
    c->inlen += (size_t)n;
    c->in[c->inlen] = '\0';
    char *end = strstr(c->in, "\r\n\r\n");
    if (end == NULL)
        return;
    char *cl = strcasestr(c->in, "content-length:");
    size_t want = cl != NULL ? strtoul(cl + 15, NULL, 10) : 0;
    if (c->inlen - (size_t)(end + 4 - c->in) < want)
        return;
    ev_io_stop(loop, &c->io); /* one request per connection */
    conn_answer(c, end + 4, want);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct responder *r = container_of(w, struct responder, accept_io);
    int fd = accept4(r->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    struct conn *c = xcalloc(1, sizeof *c);
    c->r = r;
    c->fd = fd;
    c->next = r->conns;
    if (r->conns != NULL)
        r->conns->prev = c;
    r->conns = c;
    ev_io_init(&c->io, conn_read, fd, EV_READ);
    ev_io_start(loop, &c->io);
}

/* ---- client tests ---- */

struct env {
    struct ev_loop *loop;
    struct responder r;
    struct ckb_rpc *rpc;
};

static int setup(void **state)
{
    struct env *e = xcalloc(1, sizeof *e);
    e->loop = ev_loop_new(EVFLAG_AUTO);
    e->r.loop = e->loop;
    e->r.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    if (e->r.fd < 0 || bind(e->r.fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        listen(e->r.fd, 16) < 0 || getsockname(e->r.fd, (struct sockaddr *)&sa, &sl) < 0)
        fail_msg("cannot listen on loopback: %s", strerror(errno));
    e->r.port = ntohs(sa.sin_port);
    ev_io_init(&e->r.accept_io, on_accept, e->r.fd, EV_READ);
    ev_io_start(e->loop, &e->r.accept_io);
    char url[64], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", e->r.port);
    e->rpc = ckb_rpc_new(e->loop, url, 2000, err, sizeof err);
    if (e->rpc == NULL)
        fail_msg("ckb_rpc_new: %s", err);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    ckb_rpc_free(e->rpc);
    while (e->r.conns != NULL)
        conn_close(e->r.conns);
    ev_io_stop(e->loop, &e->r.accept_io);
    close(e->r.fd);
    json_decref(e->r.last);
    ev_loop_destroy(e->loop);
    free(e);
    return 0;
}

/* What a callback saw. */
struct seen {
    struct ev_loop *loop;
    int started, done, early;
    enum ckb_outcome o;
    char message[512];
    uint64_t number;
    int found, n, has_hash;
    uint8_t hash[32];
    char cursor[64];
    struct ckb_tx_state st;
    char chain[32];
};

static void seen_done(struct seen *s, enum ckb_outcome o, const char *message)
{
    if (!s->started)
        s->early = 1;
    s->done++;
    s->o = o;
    snprintf(s->message, sizeof s->message, "%s", message != NULL ? message : "(null)");
    ev_break(s->loop, EVBREAK_ONE);
}

static void on_tip(void *ctx, enum ckb_outcome o, uint64_t tip, const char *message)
{
    struct seen *s = ctx;
    s->number = tip;
    seen_done(s, o, message);
}

static void on_send(void *ctx, enum ckb_outcome o, const uint8_t *hash, const char *message)
{
    struct seen *s = ctx;
    s->has_hash = hash != NULL;
    if (hash != NULL)
        memcpy(s->hash, hash, 32);
    seen_done(s, o, message);
}

static void on_cells(void *ctx, enum ckb_outcome o, const struct ckb_live_cell *cells, int n,
                     const char *last_cursor, const char *message)
{
    struct seen *s = ctx;
    s->n = n;
    if (n > 0) {
        s->number = cells[0].capacity;
        memcpy(s->hash, cells[0].out_point.tx_hash, 32);
    }
    snprintf(s->cursor, sizeof s->cursor, "%s", last_cursor != NULL ? last_cursor : "(null)");
    seen_done(s, o, message);
}

static void on_block(void *ctx, enum ckb_outcome o, const struct ckb_block_info *b,
                     const char *message)
{
    struct seen *s = ctx;
    if (b != NULL) {
        s->found = b->found;
        s->number = b->number;
        memcpy(s->hash, b->hash, 32);
    }
    seen_done(s, o, message);
}

static void on_txstate(void *ctx, enum ckb_outcome o, const struct ckb_tx_state *st,
                       const char *message)
{
    struct seen *s = ctx;
    if (st != NULL)
        s->st = *st;
    s->st.reason = NULL; /* borrowed: gone after the callback */
    seen_done(s, o, message);
}

static void on_chain(void *ctx, enum ckb_outcome o, const char *chain, const char *message)
{
    struct seen *s = ctx;
    snprintf(s->chain, sizeof s->chain, "%s", chain != NULL ? chain : "(null)");
    seen_done(s, o, message);
}

static void on_stop(struct ev_loop *loop, ev_timer *w, int revents)
{
    ev_break(loop, EVBREAK_ONE);
}

/* Runs the loop until the callback ran (or a safety timer). */
static void wait_done(struct env *e, struct seen *s)
{
    s->started = 1;
    assert_int_equal(s->done, 0);
    ev_timer guard;
    ev_timer_init(&guard, on_stop, 10.0, 0);
    ev_timer_start(e->loop, &guard);
    ev_run(e->loop, 0);
    ev_timer_stop(e->loop, &guard);
    assert_int_equal(s->done, 1);
    assert_false(s->early);
    assert_int_equal(ckb_rpc_inflight(e->rpc), 0);
}

static json_t *last_params(struct env *e)
{
    assert_string_equal(json_string_value(json_object_get(e->r.last, "jsonrpc")), "2.0");
    json_t *p = json_object_get(e->r.last, "params");
    assert_true(json_is_array(p));
    return p;
}

static void test_client_tip(void **state)
{
    struct env *e = *state;
    struct seen s = {.loop = e->loop};
    ckb_get_tip_block_number(e->rpc, on_tip, &s);
    assert_int_equal(ckb_rpc_inflight(e->rpc), 1);
    wait_done(e, &s);
    assert_int_equal(s.o, CKB_OK);
    assert_int_equal(s.number, 0x1a2b);
    assert_string_equal(s.message, "");
    assert_string_equal(json_string_value(json_object_get(e->r.last, "method")),
                        "get_tip_block_number");
    assert_int_equal(json_array_size(last_params(e)), 0);

    memset(&s, 0, sizeof s);
    s.loop = e->loop;
    ckb_get_blockchain_info(e->rpc, on_chain, &s);
    wait_done(e, &s);
    assert_int_equal(s.o, CKB_OK);
    assert_string_equal(s.chain, "ckb_dev");
}

/* A one-input, one-output sighash transfer (the §3 shape). */
static void build_tx(struct ckb_tx *tx)
{
    ckb_tx_init(tx);
    struct ckb_cell_dep dep = {.dep_type = CKB_DEP_TYPE_DEP_GROUP};
    unhex("0xf8de3bb47d055cdf460d93a2a6e1b05f7432f9777c8c474abf4eec1d4aee5d37",
          dep.out_point.tx_hash, 32);
    assert_int_equal(ckb_tx_add_cell_dep(tx, &dep), 0);
    struct ckb_input in = {.since = 0};
    unhex(TXH, in.previous_output.tx_hash, 32);
    in.previous_output.index = 1;
    assert_int_equal(ckb_tx_add_input(tx, &in), 0);
    struct ckb_output out = {.capacity = 10000000000ULL};
    our_lock(&out.lock);
    assert_int_equal(ckb_tx_add_output(tx, &out, NULL, 0), 0);
    uint8_t lock[65] = {1, 2, 3};
    uint8_t w[CKB_WITNESS_LOCK_LEN];
    ckb_witness_args_lock(lock, w);
    assert_int_equal(ckb_tx_set_witness(tx, 0, w, sizeof w), 0);
}

static void test_client_send(void **state)
{
    struct env *e = *state;
    struct ckb_tx tx;
    build_tx(&tx);
    uint8_t want[32];
    assert_int_equal(ckb_tx_hash(&tx, want), 0);

    /* -1107: already in the pool, reported with the hash computed here */
    struct seen s = {.loop = e->loop};
    ckb_send_transaction(e->rpc, &tx, on_send, &s);
    wait_done(e, &s);
    assert_int_equal(s.o, CKB_DUPLICATE);
    assert_true(s.has_hash);
    assert_memory_equal(s.hash, want, 32);
    assert_non_null(strstr(s.message, "PoolRejectedDuplicatedTransaction"));
    json_t *p = last_params(e);
    assert_string_equal(json_string_value(json_object_get(e->r.last, "method")),
                        "send_transaction");
    assert_int_equal(json_array_size(p), 2);
    assert_string_equal(json_string_value(json_array_get(p, 1)), "passthrough");
    /* the tx as ckb_tx_to_json writes it */
    json_t *txj = ckb_tx_to_json(&tx);
    assert_true(json_equal(json_array_get(p, 0), txj));
    json_decref(txj);

    /* accepted: the node's hash is ours */
    char hex[65];
    hex_encode(want, 32, hex);
    snprintf(e->r.send_result, sizeof e->r.send_result, "0x%s", hex);
    memset(&s, 0, sizeof s);
    s.loop = e->loop;
    ckb_send_transaction(e->rpc, &tx, on_send, &s);
    wait_done(e, &s);
    assert_int_equal(s.o, CKB_OK);
    assert_true(s.has_hash);
    assert_memory_equal(s.hash, want, 32);

    /* a node that names another hash is not believed */
    snprintf(e->r.send_result, sizeof e->r.send_result, "%s", TXH);
    memset(&s, 0, sizeof s);
    s.loop = e->loop;
    ckb_send_transaction(e->rpc, &tx, on_send, &s);
    wait_done(e, &s);
    assert_int_equal(s.o, CKB_ERROR);
    assert_false(s.has_hash);

    /* an answer that is no hash */
    snprintf(e->r.send_result, sizeof e->r.send_result, "0x1234");
    memset(&s, 0, sizeof s);
    s.loop = e->loop;
    ckb_send_transaction(e->rpc, &tx, on_send, &s);
    wait_done(e, &s);
    assert_int_equal(s.o, CKB_ERROR);
    assert_false(s.has_hash);
    ckb_tx_free(&tx);
}

static void test_client_cells(void **state)
{
    struct env *e = *state;
    struct ckb_script lock;
    our_lock(&lock);
    struct seen s = {.loop = e->loop};
    ckb_get_cells(e->rpc, &lock, NULL, 50, on_cells, &s);
    wait_done(e, &s);
    assert_int_equal(s.o, CKB_OK);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.number, 10000000000ULL);
    assert_string_equal(s.cursor, "0x01");
    json_t *p = last_params(e);
    assert_int_equal(json_array_size(p), 3);
    json_t *want =
        json_pack("{s:o, s:s, s:s, s:{s:[s,s], s:[s,s]}}", "script", ckb_script_to_json(&lock),
                  "script_type", "lock", "script_search_mode", "exact", "filter",
                  "script_len_range", "0x0", "0x1", "output_data_len_range", "0x0", "0x1");
    assert_true(json_equal(json_array_get(p, 0), want));
    json_decref(want);
    assert_string_equal(json_string_value(json_object_get(json_array_get(p, 0), "script_type")),
                        "lock");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_array_get(p, 0), "script"), "args")),
        ARGS);
    assert_string_equal(json_string_value(json_array_get(p, 1)), "asc");
    assert_string_equal(json_string_value(json_array_get(p, 2)), "0x32");

    memset(&s, 0, sizeof s);
    s.loop = e->loop;
    ckb_get_cells(e->rpc, &lock, "0x409bd7", 1, on_cells, &s);
    wait_done(e, &s);
    assert_int_equal(s.o, CKB_OK);
    p = last_params(e);
    assert_int_equal(json_array_size(p), 4);
    assert_string_equal(json_string_value(json_array_get(p, 2)), "0x1");
    assert_string_equal(json_string_value(json_array_get(p, 3)), "0x409bd7");

    /* the answer is for another lock: not believed */
    struct ckb_script other = lock;
    other.args[0] ^= 0xff;
    memset(&s, 0, sizeof s);
    s.loop = e->loop;
    ckb_get_cells(e->rpc, &other, NULL, 10, on_cells, &s);
    wait_done(e, &s);
    assert_int_equal(s.o, CKB_ERROR);
    assert_int_equal(s.n, 0);

    /* a limit out of range fails from the loop, never inside the call */
    memset(&s, 0, sizeof s);
    s.loop = e->loop;
    ckb_get_cells(e->rpc, &lock, NULL, 0, on_cells, &s);
    wait_done(e, &s);
    assert_int_equal(s.o, CKB_ERROR);
}

static void test_client_block_and_tx(void **state)
{
    struct env *e = *state;
    uint8_t want[32];
    unhex(BLKH, want, 32);
    struct seen s = {.loop = e->loop};
    ckb_get_block_hash(e->rpc, 0x5b, on_block, &s);
    wait_done(e, &s);
    assert_int_equal(s.o, CKB_OK);
    assert_int_equal(s.found, 1);
    assert_int_equal(s.number, 0x5b);
    assert_memory_equal(s.hash, want, 32);
    assert_string_equal(json_string_value(json_array_get(last_params(e), 0)), "0x5b");

    memset(&s, 0, sizeof s);
    s.loop = e->loop;
    ckb_get_block_hash(e->rpc, 100, on_block, &s); /* the responder says null: above the tip */
    wait_done(e, &s);
    assert_int_equal(s.o, CKB_OK);
    assert_int_equal(s.found, 0);

    /* a block of another height than asked for is not taken for it */
    memset(&s, 0, sizeof s);
    s.loop = e->loop;
    ckb_get_block_hash(e->rpc, 101, on_block, &s);
    wait_done(e, &s);
    assert_int_equal(s.o, CKB_ERROR);

    memset(&s, 0, sizeof s);
    s.loop = e->loop;
    ckb_get_transaction(e->rpc, want, on_txstate, &s);
    wait_done(e, &s);
    assert_int_equal(s.o, CKB_OK);
    assert_int_equal(s.st.status, CKB_TX_COMMITTED);
    assert_int_equal(s.st.block_number, 0x5b);
    assert_string_equal(json_string_value(json_array_get(last_params(e), 0)), BLKH);
}

static void test_client_transport(void **state)
{
    struct env *e = *state;
    struct seen s = {.loop = e->loop};
    e->r.http_status = 502;
    ckb_get_tip_block_number(e->rpc, on_tip, &s);
    wait_done(e, &s);
    assert_int_equal(s.o, CKB_TRANSIENT);

    e->r.http_status = 404; /* a wrong URL: retrying will not help */
    memset(&s, 0, sizeof s);
    s.loop = e->loop;
    ckb_get_tip_block_number(e->rpc, on_tip, &s);
    wait_done(e, &s);
    assert_int_equal(s.o, CKB_ERROR);

    e->r.http_status = 0;
    e->r.hang = "*";
    char url[64], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", e->r.port);
    struct ckb_rpc *quick = ckb_rpc_new(e->loop, url, 200, err, sizeof err);
    assert_non_null(quick);
    memset(&s, 0, sizeof s);
    s.loop = e->loop;
    ckb_get_tip_block_number(quick, on_tip, &s);
    s.started = 1;
    ev_run(e->loop, 0);
    assert_int_equal(s.done, 1);
    assert_int_equal(s.o, CKB_TRANSIENT);
    ckb_rpc_free(quick);
}

static void never_called(void *ctx, enum ckb_outcome o, uint64_t tip, const char *message)
{
    fail_msg("callback ran after cancel/free");
}

static void never_cells(void *ctx, enum ckb_outcome o, const struct ckb_live_cell *cells, int n,
                        const char *last_cursor, const char *message)
{
    fail_msg("callback ran after cancel/free");
}

static void free_in_cb(void *ctx, enum ckb_outcome o, uint64_t tip, const char *message)
{
    struct ckb_rpc **c = ctx;
    ckb_rpc_free(*c);
    *c = NULL;
}

static void test_client_cancel_and_free(void **state)
{
    struct env *e = *state;
    e->r.hang = "*";
    struct ckb_rpc_call *call = ckb_get_tip_block_number(e->rpc, never_called, NULL);
    assert_int_equal(ckb_rpc_inflight(e->rpc), 1);
    ckb_rpc_cancel(call);
    assert_int_equal(ckb_rpc_inflight(e->rpc), 0);
    struct ckb_script lock;
    our_lock(&lock);
    /* a call that failed locally is cancelled before its deferred report */
    ckb_rpc_cancel(ckb_get_cells(e->rpc, &lock, NULL, -1, never_cells, NULL));
    assert_int_equal(ckb_rpc_inflight(e->rpc), 0);

    char url[64], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", e->r.port);
    struct ckb_rpc *c = ckb_rpc_new(e->loop, url, 300, err, sizeof err);
    ckb_get_tip_block_number(c, never_called, NULL);
    ckb_get_cells(c, &lock, NULL, -1, never_cells, NULL);
    assert_int_equal(ckb_rpc_inflight(c), 2);
    ckb_rpc_free(c);

    /* freed from inside a callback, with another call outstanding */
    e->r.hang = "get_cells";
    c = ckb_rpc_new(e->loop, url, 300, err, sizeof err);
    ckb_get_tip_block_number(c, free_in_cb, &c);
    ckb_get_cells(c, &lock, NULL, 1, never_cells, NULL);
    ev_timer stop;
    ev_timer_init(&stop, on_stop, 0.6, 0);
    ev_timer_start(e->loop, &stop);
    ev_run(e->loop, 0);
    ev_timer_stop(e->loop, &stop);
    assert_null(c);
}

static void test_client_bad_url(void **state)
{
    char err[256];
    assert_null(ckb_rpc_new(NULL, "not a url", 1000, err, sizeof err));
    assert_string_equal(err, "ckb_rpc_url is not a valid URL");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_sighash_dep_constants),
        cmocka_unit_test(test_tx_state_committed),
        cmocka_unit_test(test_tx_state_pending_proposed_unknown),
        cmocka_unit_test(test_tx_state_rejected),
        cmocka_unit_test(test_tx_state_malformed),
        cmocka_unit_test(test_cells_page),
        cmocka_unit_test(test_cells_page_malformed),
        cmocka_unit_test(test_genesis_decode),
        cmocka_unit_test_setup_teardown(test_client_tip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_send, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_cells, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_block_and_tx, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_transport, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_cancel_and_free, setup, teardown),
        cmocka_unit_test(test_client_bad_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
