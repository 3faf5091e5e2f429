/* The hot wallet's key and the default lock's signature (ckb-onchain.md §5). One secp256k1
 * context serves the whole process: it is created on first use (the daemon is single-threaded)
 * and randomized once, which blinds the signing computations against side channels; since
 * libsecp256k1 0.2 a context made with SECP256K1_CONTEXT_NONE signs and verifies alike.
 *
 * The message is built exactly as the on-chain lock builds it, including its quirks (a missing
 * later group witness ends that part of the hash; only the first group witness must be a
 * WitnessArgs), so the same function serves the hub, which signs, and ckb-sim, which must judge a
 * transaction as a node would. Secrets stay in struct ckb_key and in stack buffers that are wiped
 * before returning; no error text ever carries key material. */
#include "core/ckb_sign.h"

#include <errno.h>
#include <fcntl.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/ckb_hash.h"
#include "core/crypto.h"

/* The lock's limit on the first group witness (MAX_WITNESS_SIZE). */
#define WITNESS_MAX 32768
/* Key files hold 64 hex digits, maybe "0x" and a newline: anything this long is not a key. */
#define KEY_FILE_MAX 256

static secp256k1_context *ctx_get(void)
{
    static secp256k1_context *ctx;
    uint8_t seed[32];

    if (ctx != NULL)
        return ctx;
    ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    if (ctx == NULL)
        return NULL;
    /* Blinding is a hardening, not a correctness need: without randomness the context still
     * signs correctly (RFC 6979 nonces do not depend on it). */
    if (crypto_random(seed, sizeof(seed)) == 0) {
        /* fails only on a static context; this one would then stay unblinded, still correct */
        int blinded = secp256k1_context_randomize(ctx, seed);
        (void)blinded;
    }
    sodium_memzero(seed, sizeof(seed));
    return ctx;
}

static void seterr(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errsz, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errsz == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int ckb_key_from_hex(const char *s, size_t len, struct ckb_key *out, char *err, size_t errsz)
{
    secp256k1_context *ctx = ctx_get();
    secp256k1_pubkey pub;
    size_t publen = sizeof(out->pubkey);

    memset(out, 0, sizeof(*out));
    if (ctx == NULL) {
        seterr(err, errsz, "secp256k1 context unavailable");
        return -1;
    }
    while (len > 0 && is_space(s[0])) {
        s++;
        len--;
    }
    while (len > 0 && is_space(s[len - 1]))
        len--;
    if (len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
        len -= 2;
    }
    if (len != 64 || hex_decode(s, len, out->secret, sizeof(out->secret)) != 0) {
        /* the length is safe to report; the digits are not */
        seterr(err, errsz, "secret key must be 64 hex digits (got %zu characters)", len);
        goto fail;
    }
    if (secp256k1_ec_seckey_verify(ctx, out->secret) != 1) {
        seterr(err, errsz, "secret key is not a valid secp256k1 key (zero or above the order)");
        goto fail;
    }
    if (secp256k1_ec_pubkey_create(ctx, &pub, out->secret) != 1 ||
        secp256k1_ec_pubkey_serialize(ctx, out->pubkey, &publen, &pub, SECP256K1_EC_COMPRESSED) !=
            1 ||
        publen != sizeof(out->pubkey)) {
        seterr(err, errsz, "cannot derive the public key");
        goto fail;
    }
    ckb_blake160(out->pubkey, sizeof(out->pubkey), out->args);
    return 0;

fail:
    ckb_key_wipe(out);
    return -1;
}

int ckb_key_load_file(const char *path, struct ckb_key *out, char *err, size_t errsz)
{
    char buf[KEY_FILE_MAX + 1];
    struct stat st;
    size_t len = 0;
    int fd, rc = -1;

    memset(out, 0, sizeof(*out));
    /* O_NONBLOCK: a FIFO in the key's place must not hang the start; it is refused below. The
     * checks use the opened descriptor, so the file judged is the file read. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        seterr(err, errsz, "key file %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        seterr(err, errsz, "key file %s: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        seterr(err, errsz, "key file %s: not a regular file", path);
        goto done;
    }
    if ((st.st_mode & 07777) != 0600) {
        seterr(err, errsz, "key file %s: mode %04o, must be 0600 (owner read/write only)", path,
               (unsigned)(st.st_mode & 07777));
        goto done;
    }
    if (st.st_size > KEY_FILE_MAX) {
        seterr(err, errsz, "key file %s: larger than %d bytes", path, KEY_FILE_MAX);
        goto done;
    }
    /* read to the end (or one byte past the limit: the file may have grown since fstat) */
    while (len < sizeof(buf)) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            seterr(err, errsz, "key file %s: %s", path, strerror(errno));
            goto done;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > KEY_FILE_MAX) {
        seterr(err, errsz, "key file %s: larger than %d bytes", path, KEY_FILE_MAX);
        goto done;
    }
    {
        char why[128];
        if (ckb_key_from_hex(buf, len, out, why, sizeof(why)) != 0) {
            seterr(err, errsz, "key file %s: %s", path, why);
            goto done;
        }
    }
    rc = 0;

done:
    sodium_memzero(buf, sizeof(buf));
    close(fd);
    return rc;
}

void ckb_key_wipe(struct ckb_key *k)
{
    sodium_memzero(k, sizeof(*k));
}

void ckb_key_lock(const struct ckb_key *k, struct ckb_script *out)
{
    memset(out, 0, sizeof(*out));
    memcpy(out->code_hash, CKB_SIGHASH_CODE_HASH, 32);
    out->hash_type = CKB_HASH_TYPE_TYPE;
    out->args_len = sizeof(k->args);
    memcpy(out->args, k->args, sizeof(k->args));
}

/* u64le(len) ‖ w into the hasher. */
static void hash_witness(struct ckb_hasher *h, const uint8_t *w, size_t len)
{
    uint8_t l[8];
    uint64_t v = len;

    for (int i = 0; i < 8; i++)
        l[i] = (uint8_t)(v >> (8 * i));
    ckb_hasher_update(h, l, 8);
    ckb_hasher_update(h, w, len);
}

int ckb_sighash_message(const struct ckb_tx *tx, const uint8_t tx_hash[32], const size_t *group,
                        size_t n, uint8_t msg[32])
{
    static const uint8_t zero[65];
    struct ckb_witness_args wa;
    const struct ckb_bytes *w0;
    struct ckb_hasher h;

    if (n == 0 || group[0] >= tx->nwitnesses)
        return -3;
    w0 = &tx->witnesses[group[0]];
    if (w0->len > WITNESS_MAX)
        return -22;
    if (ckb_witness_args_decode(w0->p, w0->len, &wa) != 0 || !wa.has_lock)
        return -2;
    if (wa.lock_len != 65)
        return -1;

    ckb_hasher_init(&h);
    ckb_hasher_update(&h, tx_hash, 32);
    /* w0 with its lock bytes read as zeros: hashed in three pieces, w0 itself untouched */
    {
        uint8_t l[8];
        uint64_t v = w0->len;
        for (int i = 0; i < 8; i++)
            l[i] = (uint8_t)(v >> (8 * i));
        ckb_hasher_update(&h, l, 8);
        ckb_hasher_update(&h, w0->p, wa.lock_offset);
        ckb_hasher_update(&h, zero, 65);
        ckb_hasher_update(&h, w0->p + wa.lock_offset + 65, w0->len - wa.lock_offset - 65);
    }
    for (size_t i = 1; i < n; i++) {
        if (group[i] >= tx->nwitnesses)
            break; /* the lock's loop ends at the first missing group witness */
        hash_witness(&h, tx->witnesses[group[i]].p, tx->witnesses[group[i]].len);
    }
    for (size_t i = tx->ninputs; i < tx->nwitnesses; i++)
        hash_witness(&h, tx->witnesses[i].p, tx->witnesses[i].len);
    ckb_hasher_final(&h, msg);
    return 0;
}

int ckb_sign_recoverable(const struct ckb_key *k, const uint8_t msg[32], uint8_t lock[65])
{
    secp256k1_context *ctx = ctx_get();
    secp256k1_ecdsa_recoverable_signature sig;
    int recid = -1;

    if (ctx == NULL)
        return -1;
    /* NULL nonce function: RFC 6979, and the signature comes out low-S */
    if (secp256k1_ecdsa_sign_recoverable(ctx, &sig, msg, k->secret, NULL, NULL) != 1 ||
        secp256k1_ecdsa_recoverable_signature_serialize_compact(ctx, lock, &recid, &sig) != 1 ||
        recid < 0 || recid > 3)
        return -1;
    lock[64] = (uint8_t)recid;
    return 0;
}

int ckb_recover_pubkey(const uint8_t lock[65], const uint8_t msg[32], uint8_t pubkey[33])
{
    secp256k1_context *ctx = ctx_get();
    secp256k1_ecdsa_recoverable_signature sig;
    secp256k1_pubkey pub;
    size_t len = 33;

    if (ctx == NULL)
        return -11;
    /* parse_compact refuses a recid above 3 and r or s at or above the group order */
    if (lock[64] > 3 ||
        secp256k1_ecdsa_recoverable_signature_parse_compact(ctx, &sig, lock, lock[64]) != 1)
        return -14;
    if (secp256k1_ecdsa_recover(ctx, &pub, &sig, msg) != 1)
        return -11;
    if (secp256k1_ec_pubkey_serialize(ctx, pubkey, &len, &pub, SECP256K1_EC_COMPRESSED) != 1)
        return -11;
    return 0;
}

int ckb_tx_sign_all(struct ckb_tx *tx, const struct ckb_key *k)
{
    static const uint8_t zero[65];
    uint8_t placeholder[CKB_WITNESS_LOCK_LEN], tx_hash[32], msg[32], lock[65];
    size_t *group;
    int rc = -1;

    if (tx->ninputs == 0)
        return -1;
    group = calloc(tx->ninputs, sizeof(*group));
    if (group == NULL)
        return -1;
    for (size_t i = 0; i < tx->ninputs; i++)
        group[i] = i;
    /* The placeholder has the signed witness's size, so a fee computed on it still holds. */
    ckb_witness_args_lock(zero, placeholder);
    if (ckb_tx_set_witness(tx, 0, placeholder, sizeof(placeholder)) != 0 ||
        ckb_tx_hash(tx, tx_hash) != 0 ||
        ckb_sighash_message(tx, tx_hash, group, tx->ninputs, msg) != 0 ||
        ckb_sign_recoverable(k, msg, lock) != 0)
        goto done;
    memcpy(tx->witnesses[0].p + 20, lock, 65);
    rc = 0;

done:
    free(group);
    return rc;
}
