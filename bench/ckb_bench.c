/* Figures for on-chain payouts (core/ckb_tx.c, core/ckb_sign.c), printed one per line: the
 * serialized_size_in_block and the fee at 1000 shannons per 1000 bytes of a payout with one input
 * and 1, 10 or 100 default-lock outputs plus change, signed (so the sizes are the ones a node
 * charges); the median time to sign (ckb_tx_sign_all, which also hashes the transaction, and the
 * bare ckb_sign_recoverable) and to verify one input (ckb_recover_pubkey + blake160, as ckb-sim's
 * verifier does). Medians over many runs, so one slow run (another process on the core) does not
 * move them. Usage: ckb_bench [RUNS] (default 1001). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ckb_hash.h"
#include "core/ckb_sign.h"
#include "core/ckb_tx.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_u64);
    return v[n / 2];
}

/* A payout: one input of the key's lock, nout outputs to other default locks, one change output. */
static int build_payout(struct ckb_tx *tx, const struct ckb_key *k, size_t nout)
{
    struct ckb_cell_dep d = {0};
    struct ckb_input in = {0};
    struct ckb_output o = {0};

    ckb_tx_init(tx);
    memset(d.out_point.tx_hash, 0xf8, 32);
    d.dep_type = CKB_DEP_TYPE_DEP_GROUP;
    memset(in.previous_output.tx_hash, 0x62, 32);
    if (ckb_tx_add_cell_dep(tx, &d) != 0 || ckb_tx_add_input(tx, &in) != 0)
        return -1;
    for (size_t i = 0; i < nout; i++) {
        ckb_key_lock(k, &o.lock);
        o.lock.args[0] = (uint8_t)i; /* a different payee each */
        o.lock.args[1] = (uint8_t)(i >> 8);
        o.capacity = CKB_MIN_SECP_CELL_CAPACITY + i;
        if (ckb_tx_add_output(tx, &o, NULL, 0) != 0)
            return -1;
    }
    ckb_key_lock(k, &o.lock);
    o.capacity = 1000 * CKB_SHANNONS_PER_CKB;
    return ckb_tx_add_output(tx, &o, NULL, 0);
}

int main(int argc, char **argv)
{
    static const char key_hex[] =
        "d00c06bfd800d27397002dca6fb0993d5ba6399b4238b2f29ee9deb97593d2bc";
    size_t runs = argc > 1 ? strtoul(argv[1], NULL, 10) : 1001;
    static const size_t outs[] = {1, 10, 100};
    struct ckb_key k;
    struct ckb_tx tx;
    char err[128];
    uint64_t *t;

    if (runs == 0)
        runs = 1;
    t = calloc(runs, sizeof(*t));
    if (t == NULL || ckb_key_from_hex(key_hex, strlen(key_hex), &k, err, sizeof(err)) != 0) {
        fprintf(stderr, "ckb_bench: setup failed\n");
        return 1;
    }

    for (size_t i = 0; i < sizeof(outs) / sizeof(outs[0]); i++) {
        uint64_t size;
        if (build_payout(&tx, &k, outs[i]) != 0 || ckb_tx_sign_all(&tx, &k) != 0) {
            fprintf(stderr, "ckb_bench: build failed\n");
            return 1;
        }
        size = ckb_tx_size_in_block(&tx);
        printf("payout 1 input, %zu outputs + change: size_in_block %llu bytes, fee at 1000 "
               "shannons/KB %llu shannons\n",
               outs[i], (unsigned long long)size, (unsigned long long)ckb_fee_for_size(size, 1000));
        /* signing a whole tx: hash, message, signature; grows with the tx because of hashing */
        for (size_t r = 0; r < runs; r++) {
            uint64_t t0 = now_ns();
            if (ckb_tx_sign_all(&tx, &k) != 0)
                return 1;
            t[r] = now_ns() - t0;
        }
        printf("ckb_tx_sign_all (%zu outputs + change): median %llu ns\n", outs[i],
               (unsigned long long)median(t, runs));
        ckb_tx_free(&tx);
    }

    {
        uint8_t msg[32], lock[65], pub[33], args[20];
        memset(msg, 0x42, sizeof(msg));
        for (size_t r = 0; r < runs; r++) {
            uint64_t t0;
            msg[0] = (uint8_t)r;
            msg[1] = (uint8_t)(r >> 8);
            t0 = now_ns();
            if (ckb_sign_recoverable(&k, msg, lock) != 0)
                return 1;
            t[r] = now_ns() - t0;
        }
        printf("ckb_sign_recoverable per input: median %llu ns\n",
               (unsigned long long)median(t, runs));
        for (size_t r = 0; r < runs; r++) {
            uint64_t t0 = now_ns();
            if (ckb_recover_pubkey(lock, msg, pub) != 0)
                return 1;
            ckb_blake160(pub, sizeof(pub), args);
            t[r] = now_ns() - t0;
            if (memcmp(args, k.args, 20) != 0)
                return 1;
        }
        printf("ckb_recover_pubkey + blake160 per input: median %llu ns\n",
               (unsigned long long)median(t, runs));
    }
    ckb_key_wipe(&k);
    free(t);
    return 0;
}
