/* The default lock's key and signature (../shared/reference/ckb-onchain.md §5), through
 * libsecp256k1's recovery module: load a secp256k1 secret key (hot wallet file), derive its
 * compressed public key and blake160 args, build the SIGHASH_ALL message of a lock group, sign it
 * recoverably (RFC 6979, low-S; lock = r ‖ s ‖ recid), and recover a public key from a lock (the
 * simulator's verifier). The secret never leaves this module's structs and is wiped on dispose. */
#ifndef FL_CKB_SIGN_H
#define FL_CKB_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "core/ckb_tx.h"

struct ckb_key {
    uint8_t secret[32];
    uint8_t pubkey[33]; /* compressed */
    uint8_t args[20];   /* blake160(pubkey): the default lock's args */
};

/* 64 hex digits, "0x" optional, surrounding whitespace (a trailing newline) allowed; the key must
 * be a valid secp256k1 secret. 0, or -1 with a reason in err (never the key itself). */
int ckb_key_from_hex(const char *s, size_t len, struct ckb_key *out, char *err, size_t errsz);
/* Reads the key file: refused unless it is a regular file of mode 0600 (no group or other bits),
 * at most 256 bytes. 0 or -1 with a reason in err naming the path (never the contents). */
int ckb_key_load_file(const char *path, struct ckb_key *out, char *err, size_t errsz);
void ckb_key_wipe(struct ckb_key *k);
/* The default lock of this key: CKB_SIGHASH_CODE_HASH, type, args. */
void ckb_key_lock(const struct ckb_key *k, struct ckb_script *out);

/* SIGHASH_ALL message of the lock group whose inputs are group[0..n) (ascending input indices):
 * ckbhash(tx_hash ‖ len‖w0 with its 65 lock bytes zeroed ‖ len‖w for each later group input ‖
 * len‖w for every witness at index ≥ ninputs). Witness group[0] must be a WitnessArgs with a
 * 65-byte lock. 0, or a negative lock exit code as the script would (-2 bad WitnessArgs, -1 lock
 * not 65 bytes, -3 missing witness, -22 witness too large). */
int ckb_sighash_message(const struct ckb_tx *tx, const uint8_t tx_hash[32], const size_t *group,
                        size_t n, uint8_t msg[32]);
/* lock = r ‖ s ‖ recid. 0 or -1. */
int ckb_sign_recoverable(const struct ckb_key *k, const uint8_t msg[32], uint8_t lock[65]);
/* Recovers the compressed public key from a lock over msg: 0, -14 (signature does not parse) or
 * -11 (recovery fails), as the default lock reports them. */
int ckb_recover_pubkey(const uint8_t lock[65], const uint8_t msg[32], uint8_t pubkey[33]);
/* Signs a transaction whose every input is locked by k's default lock (one group): puts the
 * 85-byte zero-lock placeholder in witness 0 (other input witnesses left empty), hashes, signs,
 * writes the lock. 0 or -1. */
int ckb_tx_sign_all(struct ckb_tx *tx, const struct ckb_key *k);

#endif
