/* CKB addresses (RFC 0021): turns an address a user pasted into the lock script it names, refusing
 * anything a node's SDK would refuse (ckb-sdk-rust's parser rules: the checksum variant each format
 * must use, exact payload sizes, known short-format indexes) and anything of the wrong network, so
 * a withdrawal can never pay a script the user did not mean. Encodes only the current full format
 * (0x00, bech32m), which names any script. Pure and allocation-free. */
#include "core/ckb_address.h"

#include <string.h>

#include "core/bech32.h"

#define FORMAT_FULL 0x00
#define FORMAT_SHORT 0x01
#define FORMAT_FULL_DATA 0x02 /* deprecated: hash_type data */
#define FORMAT_FULL_TYPE 0x04 /* deprecated: hash_type type */

/* format byte, code hash, hash_type */
#define FULL_HEADER_LEN 34
/* format byte, code hash */
#define DEPRECATED_HEADER_LEN 33
/* format byte, index, blake160 args */
#define SHORT_PAYLOAD_LEN 22
#define SHORT_ARGS_LEN 20

/* The longest payload a CKB_ADDRESS_MAX-character address can carry, rounded up. */
#define PAYLOAD_MAX 640

const uint8_t CKB_SIGHASH_CODE_HASH[32] = {
    0x9b, 0xd7, 0xe0, 0x6f, 0x3e, 0xcf, 0x4b, 0xe0, 0xf2, 0xfc, 0xd2, 0x18, 0x8b, 0x23, 0xf1, 0xb9,
    0xfc, 0xc8, 0x8e, 0x5d, 0x4b, 0x65, 0xa8, 0x63, 0x7b, 0x17, 0x72, 0x3b, 0xbd, 0xa3, 0xcc, 0xe8};

/* secp256k1_blake160_multisig_all (legacy), short index 1, every chain */
static const uint8_t multisig_code_hash[32] = {
    0x5c, 0x50, 0x69, 0xeb, 0x08, 0x57, 0xef, 0xc6, 0x5e, 0x1b, 0xca, 0x0c, 0x07, 0xdf, 0x34, 0xc3,
    0x16, 0x63, 0xb3, 0x62, 0x2f, 0xd3, 0x87, 0x6c, 0x87, 0x63, 0x20, 0xfc, 0x96, 0x34, 0xe2, 0xa8};

/* anyone_can_pay, short index 2: deployed separately on each public chain */
static const uint8_t acp_code_hash_lina[32] = {
    0xd3, 0x69, 0x59, 0x7f, 0xf4, 0x7f, 0x29, 0xfb, 0xc0, 0xd4, 0x7d, 0x2e, 0x37, 0x75, 0x37, 0x0d,
    0x12, 0x50, 0xb8, 0x51, 0x40, 0xc6, 0x70, 0xe4, 0x71, 0x8a, 0xf7, 0x12, 0x98, 0x3a, 0x23, 0x54};
static const uint8_t acp_code_hash_aggron[32] = {
    0x34, 0x19, 0xa1, 0xc0, 0x9e, 0xb2, 0x56, 0x7f, 0x65, 0x52, 0xee, 0x7a, 0x8e, 0xcf, 0xfd, 0x64,
    0x15, 0x5c, 0xff, 0xe0, 0xf1, 0x79, 0x6e, 0x6e, 0x61, 0xec, 0x08, 0x8d, 0x74, 0x0c, 0x13, 0x56};

int ckb_network_parse(const char *s, enum ckb_network *out)
{
    if (s == NULL)
        return -1;
    if (strcmp(s, "mainnet") == 0)
        *out = CKB_MAINNET;
    else if (strcmp(s, "testnet") == 0)
        *out = CKB_TESTNET;
    else if (strcmp(s, "devnet") == 0)
        *out = CKB_DEVNET;
    else
        return -1;
    return 0;
}

const char *ckb_network_name(enum ckb_network n)
{
    switch (n) {
    case CKB_MAINNET:
        return "mainnet";
    case CKB_TESTNET:
        return "testnet";
    case CKB_DEVNET:
        return "devnet";
    }
    return "unknown";
}

const char *ckb_network_hrp(enum ckb_network n)
{
    return n == CKB_MAINNET ? "ckb" : "ckt";
}

int ckb_script_is_sighash(const struct ckb_script *s)
{
    return memcmp(s->code_hash, CKB_SIGHASH_CODE_HASH, 32) == 0 &&
           s->hash_type == CKB_HASH_TYPE_TYPE && s->args_len == SHORT_ARGS_LEN;
}

static int hash_type_valid(uint8_t t)
{
    return t == CKB_HASH_TYPE_DATA || t == CKB_HASH_TYPE_TYPE || t == CKB_HASH_TYPE_DATA1 ||
           t == CKB_HASH_TYPE_DATA2;
}

/* Sets out's args from p[0..n). */
static enum ckb_addr_error set_args(struct ckb_script *out, const uint8_t *p, size_t n)
{
    if (n > CKB_SCRIPT_ARGS_MAX)
        return CKB_ADDR_ARGS_TOO_LONG;
    if (n > 0)
        memcpy(out->args, p, n);
    out->args_len = n;
    return CKB_ADDR_OK;
}

/* The script a payload names, with the short-format indexes of network net. */
static enum ckb_addr_error decode_payload(const uint8_t *p, size_t n, enum bech32_variant v,
                                          enum ckb_network net, struct ckb_script *out)
{
    if (n == 0)
        return CKB_ADDR_BAD_LENGTH;
    switch (p[0]) {
    case FORMAT_FULL:
        if (v != BECH32_M)
            return CKB_ADDR_WRONG_ENCODING;
        if (n < FULL_HEADER_LEN)
            return CKB_ADDR_BAD_LENGTH;
        if (!hash_type_valid(p[33]))
            return CKB_ADDR_BAD_HASH_TYPE;
        memcpy(out->code_hash, p + 1, 32);
        out->hash_type = p[33];
        return set_args(out, p + FULL_HEADER_LEN, n - FULL_HEADER_LEN);
    case FORMAT_SHORT:
        if (v != BECH32_CLASSIC)
            return CKB_ADDR_WRONG_ENCODING;
        if (n != SHORT_PAYLOAD_LEN)
            return CKB_ADDR_BAD_LENGTH;
        switch (p[1]) {
        case 0:
            memcpy(out->code_hash, CKB_SIGHASH_CODE_HASH, 32);
            break;
        case 1:
            memcpy(out->code_hash, multisig_code_hash, 32);
            break;
        case 2:
            /* A dev chain deploys anyone-can-pay (if at all) under a hash we cannot know. */
            if (net == CKB_DEVNET)
                return CKB_ADDR_UNKNOWN_INDEX;
            memcpy(out->code_hash, net == CKB_MAINNET ? acp_code_hash_lina : acp_code_hash_aggron,
                   32);
            break;
        default:
            return CKB_ADDR_UNKNOWN_INDEX;
        }
        out->hash_type = CKB_HASH_TYPE_TYPE;
        return set_args(out, p + 2, SHORT_ARGS_LEN);
    case FORMAT_FULL_DATA:
    case FORMAT_FULL_TYPE:
        if (v != BECH32_CLASSIC)
            return CKB_ADDR_WRONG_ENCODING;
        if (n < DEPRECATED_HEADER_LEN)
            return CKB_ADDR_BAD_LENGTH;
        memcpy(out->code_hash, p + 1, 32);
        out->hash_type = p[0] == FORMAT_FULL_DATA ? CKB_HASH_TYPE_DATA : CKB_HASH_TYPE_TYPE;
        return set_args(out, p + DEPRECATED_HEADER_LEN, n - DEPRECATED_HEADER_LEN);
    default:
        return CKB_ADDR_UNKNOWN_FORMAT;
    }
}

enum ckb_addr_error ckb_address_decode(const char *s, size_t len, enum ckb_network net,
                                       struct ckb_script *out)
{
    char hrp[CKB_ADDRESS_MAX + 1];
    uint8_t payload[PAYLOAD_MAX];
    size_t n = sizeof(payload);
    enum bech32_variant v;
    enum ckb_network addr_net;
    enum ckb_addr_error e;
    struct ckb_script tmp;

    if (len == 0)
        return CKB_ADDR_EMPTY;
    if (len > CKB_ADDRESS_MAX)
        return CKB_ADDR_TOO_LONG;
    switch (bech32_decode_variant(s, len, hrp, sizeof(hrp), payload, &n, &v)) {
    case BECH32_OK:
        break;
    case BECH32_ERR_CHARACTER:
    case BECH32_ERR_SEPARATOR:
        return CKB_ADDR_BAD_CHARACTER;
    case BECH32_ERR_CHECKSUM:
        return CKB_ADDR_CHECKSUM;
    case BECH32_ERR_PADDING:
    case BECH32_ERR_SIZE:
        /* leftover bits that are no whole byte: characters were lost or added */
        return CKB_ADDR_BAD_LENGTH;
    }

    if (strcmp(hrp, "ckb") == 0)
        addr_net = CKB_MAINNET;
    else if (strcmp(hrp, "ckt") == 0)
        addr_net = net == CKB_MAINNET ? CKB_TESTNET : net;
    else
        return CKB_ADDR_UNKNOWN_PREFIX;

    /* The payload is judged by its own network's rules first, so "wrong network" is only said of
     * an address that is valid there. */
    e = decode_payload(payload, n, v, addr_net, &tmp);
    if (e != CKB_ADDR_OK)
        return e;
    if (strcmp(hrp, ckb_network_hrp(net)) != 0)
        return CKB_ADDR_WRONG_NETWORK;
    *out = tmp;
    return CKB_ADDR_OK;
}

const char *ckb_address_error_message(enum ckb_addr_error e, enum ckb_network net)
{
    switch (e) {
    case CKB_ADDR_OK:
        return "valid address";
    case CKB_ADDR_EMPTY:
        return "empty address";
    case CKB_ADDR_TOO_LONG:
        return "address too long (over 1023 characters)";
    case CKB_ADDR_BAD_CHARACTER:
        return "invalid address: a character outside the bech32 set, mixed case, or no '1' "
               "separator";
    case CKB_ADDR_CHECKSUM:
        return "bad checksum: the address is mistyped or truncated";
    case CKB_ADDR_WRONG_NETWORK:
        switch (net) {
        case CKB_MAINNET:
            return "testnet address on a mainnet hub";
        case CKB_TESTNET:
            return "mainnet address on a testnet hub";
        case CKB_DEVNET:
            return "mainnet address on a devnet hub";
        }
        return "address of another network";
    case CKB_ADDR_UNKNOWN_PREFIX:
        return net == CKB_MAINNET ? "unknown address prefix: this hub takes ckb1... addresses"
                                  : "unknown address prefix: this hub takes ckt1... addresses";
    case CKB_ADDR_WRONG_ENCODING:
        return "wrong encoding for the address format: full (0x00) addresses use bech32m, short "
               "and deprecated full ones bech32";
    case CKB_ADDR_BAD_LENGTH:
        return "truncated address: payload length wrong for its format";
    case CKB_ADDR_UNKNOWN_FORMAT:
        return "unknown address format (first payload byte not 0x00, 0x01, 0x02 or 0x04)";
    case CKB_ADDR_UNKNOWN_INDEX:
        return net == CKB_DEVNET
                   ? "unknown short address code hash index on a devnet hub (known: 0 sighash, "
                     "1 multisig)"
                   : "unknown short address code hash index (known: 0 sighash, 1 multisig, 2 "
                     "anyone-can-pay)";
    case CKB_ADDR_BAD_HASH_TYPE:
        return "unknown hash_type in address (known: data, type, data1, data2)";
    case CKB_ADDR_ARGS_TOO_LONG:
        return "script args too long (over 640 bytes)";
    }
    return "invalid address";
}

int ckb_address_encode_full(enum ckb_network net, const struct ckb_script *s, char *out,
                            size_t outsz)
{
    uint8_t payload[FULL_HEADER_LEN + CKB_SCRIPT_ARGS_MAX];
    int m;

    if (!hash_type_valid(s->hash_type) || s->args_len > CKB_SCRIPT_ARGS_MAX)
        return -1;
    payload[0] = FORMAT_FULL;
    memcpy(payload + 1, s->code_hash, 32);
    payload[33] = s->hash_type;
    if (s->args_len > 0)
        memcpy(payload + FULL_HEADER_LEN, s->args, s->args_len);
    m = bech32_encode_variant(BECH32_M, ckb_network_hrp(net), payload,
                              FULL_HEADER_LEN + s->args_len, out, outsz);
    /* An address the decoder would refuse is no address. */
    if (m > CKB_ADDRESS_MAX) {
        out[0] = '\0';
        return -1;
    }
    return m;
}
