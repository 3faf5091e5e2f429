/* CKB transactions (../shared/reference/ckb-onchain.md §3, §6, §7, §8): the molecule layout of
 * Script, CellOutput, RawTransaction, Transaction and WitnessArgs (serialize and strict decode),
 * the tx hash, the JSON form of the node's RPC (encode and strict decode), occupied capacity and
 * the fee for a size. Pure: fuzzed (fuzz/fuzz_ckb_tx.c). Used by the hub's payout builder and by
 * ckb-sim's verifier. */
#ifndef FL_CKB_TX_H
#define FL_CKB_TX_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ckb_address.h" /* struct ckb_script */

#define CKB_SHANNONS_PER_CKB 100000000ULL
/* A default-lock cell with no type and no data: 61 CKB. */
#define CKB_MIN_SECP_CELL_CAPACITY 6100000000ULL
/* Pool limit on serialized_size_in_block. */
#define CKB_MAX_TX_SIZE 512000

#define CKB_DEP_TYPE_CODE 0
#define CKB_DEP_TYPE_DEP_GROUP 1

/* A growable byte buffer (molecule output, witnesses, data). */
struct ckb_buf {
    uint8_t *p;
    size_t len, cap;
};
void ckb_buf_free(struct ckb_buf *b);
int ckb_buf_append(struct ckb_buf *b, const void *data, size_t n); /* 0 or -1 (ENOMEM) */

struct ckb_out_point {
    uint8_t tx_hash[32];
    uint32_t index;
};
struct ckb_cell_dep {
    struct ckb_out_point out_point;
    uint8_t dep_type; /* CKB_DEP_TYPE_* */
};
struct ckb_input {
    uint64_t since;
    struct ckb_out_point previous_output;
};
struct ckb_output {
    uint64_t capacity; /* shannons */
    struct ckb_script lock;
    int has_type;
    struct ckb_script type;
};
struct ckb_bytes {
    uint8_t *p; /* owned; NULL when len is 0 */
    size_t len;
};

/* A transaction, owning its arrays. outputs_data has noutputs entries; witnesses may be fewer or
 * more than inputs. */
struct ckb_tx {
    uint32_t version;
    size_t ncell_deps, nheader_deps, ninputs, noutputs, nwitnesses;
    struct ckb_cell_dep *cell_deps;
    uint8_t (*header_deps)[32];
    struct ckb_input *inputs;
    struct ckb_output *outputs;
    struct ckb_bytes *outputs_data;
    struct ckb_bytes *witnesses;
};
void ckb_tx_init(struct ckb_tx *tx);
void ckb_tx_free(struct ckb_tx *tx); /* frees everything it owns; tx is left empty (init'ed) */
/* Builders: append one item (copied). 0 or -1 (ENOMEM). */
int ckb_tx_add_cell_dep(struct ckb_tx *tx, const struct ckb_cell_dep *d);
int ckb_tx_add_input(struct ckb_tx *tx, const struct ckb_input *in);
/* data may be NULL when data_len is 0. */
int ckb_tx_add_output(struct ckb_tx *tx, const struct ckb_output *out, const void *data,
                      size_t data_len);
/* Sets witness i (growing the array with empty witnesses as needed) to a copy of w[0..len). */
int ckb_tx_set_witness(struct ckb_tx *tx, size_t i, const void *w, size_t len);

/* ---- molecule ---- */
/* Appends the molecule Script table. 0 or -1. */
int ckb_script_serialize(const struct ckb_script *s, struct ckb_buf *out);
/* ckbhash of the molecule Script (a lock hash / type hash). */
void ckb_script_hash(const struct ckb_script *s, uint8_t out[32]);
int ckb_output_serialize(const struct ckb_output *o, struct ckb_buf *out);
/* RawTransaction (what the tx hash covers) and Transaction (raw + witnesses). 0 or -1. */
int ckb_tx_serialize_raw(const struct ckb_tx *tx, struct ckb_buf *out);
int ckb_tx_serialize(const struct ckb_tx *tx, struct ckb_buf *out);
/* ckbhash(RawTransaction). 0 or -1 (ENOMEM). */
int ckb_tx_hash(const struct ckb_tx *tx, uint8_t out[32]);
/* Strict decode of a molecule Transaction (header sizes and offsets consistent, field counts
 * exact, nothing left over; hash_type bytes as they are — the verifier judges them). 0, or -1 with
 * a reason in err. On success tx owns new arrays (call ckb_tx_free). */
int ckb_tx_decode(const uint8_t *p, size_t len, struct ckb_tx *tx, char *err, size_t errsz);

/* WitnessArgs with only lock = lock[0..65): the 85-byte layout of §3. */
#define CKB_WITNESS_LOCK_LEN 85
void ckb_witness_args_lock(const uint8_t lock[65], uint8_t out[CKB_WITNESS_LOCK_LEN]);
/* Strict decode of a WitnessArgs table (3 BytesOpt fields). The lock field, when present, points
 * into w. 0 or -1. */
struct ckb_witness_args {
    int has_lock, has_input_type, has_output_type;
    const uint8_t *lock;
    size_t lock_len;
    size_t lock_offset; /* offset of the lock bytes inside w (to zero them when hashing) */
};
int ckb_witness_args_decode(const uint8_t *w, size_t len, struct ckb_witness_args *out);

/* ---- capacity and fee ---- */
/* Occupied capacity of an output with data_len bytes of data, in shannons:
 * (8 + 33 + lock args + [33 + type args] + data_len) × 10^8. */
uint64_t ckb_output_occupied(const struct ckb_output *o, size_t data_len);
/* serialized_size_in_block: molecule Transaction (witnesses included) + 4. 0 on ENOMEM. */
uint64_t ckb_tx_size_in_block(const struct ckb_tx *tx);
/* The fee a builder pays for size bytes at rate shannons per 1000 bytes: rounded up. */
uint64_t ckb_fee_for_size(uint64_t size, uint64_t rate);
/* The fee a node demands (tx-pool check_tx_fee): ⌊rate·size/1000⌋. */
uint64_t ckb_min_fee_for_size(uint64_t size, uint64_t rate);

/* ---- JSON (the node's RPC form, §8) ---- */
/* Uint: "0x" + lowercase hex, no leading zeros ("0x0"). */
json_t *ckb_json_uint(uint64_t v);
/* Strict: "0x0" or "0x[1-9a-f][0-9a-f]*" within 64 bits (or 32 bits for max 0xffffffff). 0/-1. */
int ckb_json_parse_uint(const json_t *v, uint64_t max, uint64_t *out);
json_t *ckb_json_h256(const uint8_t h[32]);
int ckb_json_parse_h256(const json_t *v, uint8_t out[32]);
json_t *ckb_json_bytes(const uint8_t *p, size_t len); /* "0x…"; "0x" when empty */
json_t *ckb_script_to_json(const struct ckb_script *s);
int ckb_script_from_json(const json_t *v, struct ckb_script *out, char *err, size_t errsz);
json_t *ckb_out_point_to_json(const struct ckb_out_point *op);
int ckb_out_point_from_json(const json_t *v, struct ckb_out_point *out);
/* {version, cell_deps, header_deps, inputs, outputs, outputs_data, witnesses} as send_transaction
 * takes it (no "hash"). */
json_t *ckb_tx_to_json(const struct ckb_tx *tx);
/* Strict decode of the same (a "hash" member is ignored). 0, or -1 with the offending field in
 * err. On success tx owns new arrays. */
int ckb_tx_from_json(const json_t *v, struct ckb_tx *tx, char *err, size_t errsz);

#endif
