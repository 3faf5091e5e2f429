/* CKB addresses (RFC 0021; ../shared/reference/ckb-onchain.md §1): decode every format a node's
 * SDK accepts (full bech32m 0x00; deprecated short 0x01, full 0x02/0x04 in bech32) into the lock
 * Script it names, check the network prefix, and encode the current full format. Pure: fuzzed
 * (fuzz/fuzz_ckb_address.c). */
#ifndef FL_CKB_ADDRESS_H
#define FL_CKB_ADDRESS_H

#include <stddef.h>
#include <stdint.h>

/* The longest address accepted (lumos and ccc decode with this bound). */
#define CKB_ADDRESS_MAX 1023
/* The longest script args this build handles (an address of CKB_ADDRESS_MAX characters carries
 * fewer). */
#define CKB_SCRIPT_ARGS_MAX 640

/* molecule hash_type bytes */
#define CKB_HASH_TYPE_DATA 0
#define CKB_HASH_TYPE_TYPE 1
#define CKB_HASH_TYPE_DATA1 2
#define CKB_HASH_TYPE_DATA2 4

enum ckb_network {
    CKB_MAINNET, /* hrp "ckb", chain "ckb" */
    CKB_TESTNET, /* hrp "ckt", chain "ckb_testnet" */
    CKB_DEVNET,  /* hrp "ckt", chain "ckb_dev" */
};
/* "mainnet" | "testnet" | "devnet" → 0, else -1. */
int ckb_network_parse(const char *s, enum ckb_network *out);
const char *ckb_network_name(enum ckb_network n);
const char *ckb_network_hrp(enum ckb_network n); /* "ckb" | "ckt" */

struct ckb_script {
    uint8_t code_hash[32];
    uint8_t hash_type; /* CKB_HASH_TYPE_*: one of {0,1,2,4} */
    size_t args_len;
    uint8_t args[CKB_SCRIPT_ARGS_MAX];
};

/* The default lock (secp256k1_blake160_sighash_all) code hash, hash_type type, on every chain. */
extern const uint8_t CKB_SIGHASH_CODE_HASH[32];
/* 1 when s is the default lock with 20-byte args. */
int ckb_script_is_sighash(const struct ckb_script *s);

enum ckb_addr_error {
    CKB_ADDR_OK = 0,
    CKB_ADDR_EMPTY,         /* "" */
    CKB_ADDR_TOO_LONG,      /* over CKB_ADDRESS_MAX characters */
    CKB_ADDR_BAD_CHARACTER, /* outside the bech32 charset, mixed case, no separator */
    CKB_ADDR_CHECKSUM,      /* neither a valid bech32 nor bech32m checksum */
    CKB_ADDR_WRONG_NETWORK, /* valid address of the other network ("ckb" on a testnet hub …) */
    CKB_ADDR_UNKNOWN_PREFIX,/* an hrp that is neither "ckb" nor "ckt" */
    CKB_ADDR_WRONG_ENCODING,/* bech32 where bech32m is required, or the reverse */
    CKB_ADDR_BAD_LENGTH,    /* payload too short/long for its format (a truncated address) */
    CKB_ADDR_UNKNOWN_FORMAT,/* format byte not 0x00/0x01/0x02/0x04 */
    CKB_ADDR_UNKNOWN_INDEX, /* short format code hash index not known on this network */
    CKB_ADDR_BAD_HASH_TYPE, /* full format hash_type not in {0,1,2,4} */
    CKB_ADDR_ARGS_TOO_LONG, /* args beyond CKB_SCRIPT_ARGS_MAX */
};

/* Decodes s[0..len) for a hub on network net. On CKB_ADDR_OK out holds the lock script. */
enum ckb_addr_error ckb_address_decode(const char *s, size_t len, enum ckb_network net,
                                       struct ckb_script *out);
/* A short English sentence for a refusal, naming the problem for a hub on net, e.g.
 * "testnet address on a mainnet hub", "mainnet address on a testnet hub",
 * "bad checksum", "truncated address: payload too short for its format". Never NULL. */
const char *ckb_address_error_message(enum ckb_addr_error e, enum ckb_network net);

/* Encodes s as a full (0x00, bech32m) address of net into out (NUL-terminated). Returns the
 * length, or -1 when out is too small, hash_type is invalid, or the address would exceed
 * CKB_ADDRESS_MAX characters (args over 599 bytes: ckb_address_decode would refuse it). */
int ckb_address_encode_full(enum ckb_network net, const struct ckb_script *s, char *out,
                            size_t outsz);

#endif
