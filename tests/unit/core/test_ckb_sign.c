/* Unit tests for core/ckb_sign.c with the vectors of ckb-onchain.md §2, §4 and §5: keys to lock
 * args, the SIGHASH_ALL message of lumos SECP256K1_[G1] and [G1_G1], the sdkjs single-group and
 * multi-group witnesses, ccc's raw recoverable ECDSA vector; sign-then-recover round trips; the
 * lock's exit codes for malformed witnesses and signatures; and the key file's refusals (mode
 * other than 0600, not a regular file, oversize, bad contents) with no key material in errors. */
#include "core/ckb_sign.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/ckb_hash.h"
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

static void key(const char *hex, struct ckb_key *k)
{
    char err[128];
    if (ckb_key_from_hex(hex, strlen(hex), k, err, sizeof(err)) != 0)
        fail_msg("key refused: %s", err);
}

static const char SIGHASH[] = "9bd7e06f3ecf4be0f2fcd2188b23f1b9fcc88e5d4b65a8637b17723bbda3cce8";
static const char EMPTY_WA[] = "10000000100000001000000010000000";
static const char KEY_DCEC[] = "0xdcec27d0d975b0378471183a03f7071dea8532aaf968be796719ecd20af6988f";

static void script(struct ckb_script *s, const char *code_hash, const char *args_hex)
{
    memset(s, 0, sizeof(*s));
    unhex(code_hash, s->code_hash, 32);
    s->hash_type = CKB_HASH_TYPE_TYPE;
    s->args_len = strlen(args_hex) / 2;
    unhex(args_hex, s->args, s->args_len);
}

static void add_input(struct ckb_tx *tx, const char *hash, uint32_t index)
{
    struct ckb_input in = {0};
    unhex(hash, in.previous_output.tx_hash, 32);
    in.previous_output.index = index;
    assert_int_equal(ckb_tx_add_input(tx, &in), 0);
}

static void add_output(struct ckb_tx *tx, uint64_t capacity, const char *code_hash,
                       const char *args)
{
    struct ckb_output o = {0};
    o.capacity = capacity;
    script(&o.lock, code_hash, args);
    assert_int_equal(ckb_tx_add_output(tx, &o, NULL, 0), 0);
}

static void add_dep(struct ckb_tx *tx)
{
    struct ckb_cell_dep d = {0};
    unhex("f8de3bb47d055cdf460d93a2a6e1b05f7432f9777c8c474abf4eec1d4aee5d37", d.out_point.tx_hash,
          32);
    d.dep_type = CKB_DEP_TYPE_DEP_GROUP;
    assert_int_equal(ckb_tx_add_cell_dep(tx, &d), 0);
}

static void set_placeholder(struct ckb_tx *tx, size_t i)
{
    static const uint8_t zero[65];
    uint8_t w[CKB_WITNESS_LOCK_LEN];
    ckb_witness_args_lock(zero, w);
    assert_int_equal(ckb_tx_set_witness(tx, i, w, sizeof(w)), 0);
}

static void set_witness_hex(struct ckb_tx *tx, size_t i, const char *hex)
{
    uint8_t w[256];
    size_t n = strlen(hex) / 2;
    assert_true(n <= sizeof(w));
    unhex(hex, w, n);
    assert_int_equal(ckb_tx_set_witness(tx, i, w, n), 0);
}

static void test_key_args(void **state)
{
    static const struct {
        const char *key, *pub, *args;
    } v[] = {
        {"d00c06bfd800d27397002dca6fb0993d5ba6399b4238b2f29ee9deb97593d2bc", NULL,
         "c8328aabcd9b9e8e64fbc566c4385c3bdeb219d7"},
        {"63d86723e08f0f813a36ce6aa123bb2289d90680ae1e99d4de8cdb334553f24d", NULL,
         "470dcdc5e44064909650113a274b3b36aecb6dc7"},
        {KEY_DCEC, "037a3192467ef7046070b49eaa2f4706fee19a69bcdd7f6d3b8ab4f7407365089e",
         "edb5c73f2a4ad8df23467c9f3446f5851b5e33da"},
        {"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", NULL,
         "e2fa82e70b062c8644b80ad7ecf6e015e5f352f6"},
    };
    struct ckb_key k;
    struct ckb_script lock;

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        key(v[i].key, &k);
        if (v[i].pub != NULL)
            assert_hex(k.pubkey, 33, v[i].pub);
        assert_hex(k.args, 20, v[i].args);
        ckb_key_lock(&k, &lock);
        assert_true(ckb_script_is_sighash(&lock));
        assert_memory_equal(lock.args, k.args, 20);
        ckb_key_wipe(&k);
        for (size_t j = 0; j < sizeof(k); j++)
            assert_int_equal(((uint8_t *)&k)[j], 0);
    }
}

static void test_key_hex_refusals(void **state)
{
    static const char *const bad[] = {
        "",
        "0x",
        "dcec27d0d975b0378471183a03f7071dea8532aaf968be796719ecd20af6988",   /* 63 */
        "dcec27d0d975b0378471183a03f7071dea8532aaf968be796719ecd20af6988f0", /* 65 */
        "dcec27d0d975b0378471183a03f7071dea8532aaf968be796719ecd20af6988g",
        "0000000000000000000000000000000000000000000000000000000000000000", /* zero */
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", /* the order */
        "dcec27d0d975b0378471183a03f7071d ea8532aaf968be796719ecd20af6988f",
    };
    struct ckb_key k;
    char err[160];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (ckb_key_from_hex(bad[i], strlen(bad[i]), &k, err, sizeof(err)) == 0)
            fail_msg("accepted key %s", bad[i]);
        assert_true(strlen(err) > 0);
        /* no run of 8 key digits in the message */
        if (strlen(bad[i]) >= 8)
            assert_null(strstr(err, bad[i] + strlen(bad[i]) - 8));
    }
    /* whitespace around, 0x, uppercase: accepted */
    {
        const char *s = "  0xDCEC27D0D975B0378471183A03F7071DEA8532AAF968BE796719ECD20AF6988F\n";
        assert_int_equal(ckb_key_from_hex(s, strlen(s), &k, err, sizeof(err)), 0);
        assert_hex(k.args, 20, "edb5c73f2a4ad8df23467c9f3446f5851b5e33da");
    }
}

static void build_g1(struct ckb_tx *tx)
{
    ckb_tx_init(tx);
    add_dep(tx);
    add_input(tx, "62f634d380484b56cee28c166f55ffc562129f0ef5311618396bbb979b806ab5", 1);
    add_output(tx, 0x2540be400ULL, SIGHASH, "159890a7cacb44a95bef0743064433d763de229c");
    add_output(tx, 0xe42c8a3ac0ULL, SIGHASH, "7f599d5e44c248e211aa1d1ff47276758cab96f4");
}

static void test_message_g1(void **state)
{
    struct ckb_tx tx;
    uint8_t h[32], msg[32];
    size_t group[] = {0};

    build_g1(&tx);
    set_placeholder(&tx, 0);
    assert_int_equal(ckb_tx_hash(&tx, h), 0);
    assert_hex(h, 32, "0dea0d436ff2fe4ef630d0d2805611bf924cf5d84dba34a7e2e1ce0782b30188");
    assert_int_equal(ckb_sighash_message(&tx, h, group, 1, msg), 0);
    assert_hex(msg, 32, "9081f53dba1baaafd15be1f6b85bc3e961babf04b9b190f7960f1b514b506c0b");
    /* the lock bytes do not enter the message */
    tx.witnesses[0].p[20] = 0x5a;
    tx.witnesses[0].p[84] = 0xa5;
    assert_int_equal(ckb_sighash_message(&tx, h, group, 1, msg), 0);
    assert_hex(msg, 32, "9081f53dba1baaafd15be1f6b85bc3e961babf04b9b190f7960f1b514b506c0b");
    ckb_tx_free(&tx);
}

static void test_message_g1_g1(void **state)
{
    struct ckb_tx tx;
    uint8_t h[32], msg[32];
    size_t group[] = {0, 1};

    ckb_tx_init(&tx);
    add_dep(&tx);
    add_input(&tx, "45def2fa2371895941e9e0b26ef9c27dca3ab446238548a472fed3b8ccc799f6", 0);
    add_input(&tx, "9fb88345432208ea1182987ff62b7911de877e74c8016cf4af5168815ce30480", 0);
    add_output(&tx, 0x28fa6ae00ULL,
               "5c5069eb0857efc65e1bca0c07df34c31663b3622fd3876c876320fc9634e2a8",
               "ed20af7322823d0dc33bfb215486a05082669905");
    add_output(&tx, 0x2186f9360ULL, SIGHASH, "92764594e255afbb89cd9486b0035c393b2c5323");
    set_placeholder(&tx, 0);
    set_placeholder(&tx, 1);
    assert_int_equal(ckb_tx_hash(&tx, h), 0);
    assert_int_equal(ckb_sighash_message(&tx, h, group, 2, msg), 0);
    assert_hex(msg, 32, "ae04988711de62dca841cb09d78ef182dc3c2c9cc107626d5ccedae75eaf7033");
    ckb_tx_free(&tx);
}

/* A tx whose only role is to carry ninputs inputs and the given witnesses. */
static void dummy_inputs(struct ckb_tx *tx, size_t ninputs)
{
    ckb_tx_init(tx);
    for (size_t i = 0; i < ninputs; i++)
        add_input(tx, SIGHASH, (uint32_t)i);
}

static void sign_group(struct ckb_tx *tx, const uint8_t tx_hash[32], const size_t *group, size_t n,
                       const struct ckb_key *k, const char *want_msg)
{
    uint8_t msg[32], lock[65], pub[33];

    set_placeholder(tx, group[0]);
    assert_int_equal(ckb_sighash_message(tx, tx_hash, group, n, msg), 0);
    if (want_msg != NULL)
        assert_hex(msg, 32, want_msg);
    assert_int_equal(ckb_sign_recoverable(k, msg, lock), 0);
    memcpy(tx->witnesses[group[0]].p + 20, lock, 65);
    assert_int_equal(ckb_recover_pubkey(lock, msg, pub), 0);
    assert_memory_equal(pub, k->pubkey, 33);
}

static void test_sdkjs_single_group(void **state)
{
    struct ckb_tx tx;
    struct ckb_key k;
    uint8_t h[32];
    size_t group[] = {0, 1};

    key(KEY_DCEC, &k);
    unhex("4a4bcfef1b7448e27edf533df2f1de9f56be05eba645fb83f42d55816797ad2a", h, 32);
    dummy_inputs(&tx, 2);
    set_witness_hex(&tx, 0, EMPTY_WA);
    set_witness_hex(&tx, 1, EMPTY_WA);
    sign_group(&tx, h, group, 2, &k,
               "7739c6307c4e3698a8a8ebfdb3908a29a7cb5a382040c89806cace1ddc538b0e");
    assert_int_equal(tx.witnesses[0].len, 85);
    assert_hex(tx.witnesses[0].p, 85,
               "55000000100000005500000055000000410000005bc073bf55db333d5680ddf36e4814b9ce2118cfe4"
               "504f95c7d3e9a7548e16886cf1a1481fd80ce70d5e19108a43fd17fa32aad0d46c30c3410001ed2934"
               "ad2f00");
    assert_hex(tx.witnesses[1].p, 16, EMPTY_WA);
    ckb_tx_free(&tx);
    ckb_key_wipe(&k);
}

static void test_sdkjs_multi_groups(void **state)
{
    struct ckb_tx tx;
    struct ckb_key a, b;
    uint8_t h[32];
    size_t ga[] = {0, 2}, gb[] = {1};

    key(KEY_DCEC, &a);
    key("0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", &b);
    unhex("4a4bcfef1b7448e27edf533df2f1de9f56be05eba645fb83f42d55816797ad2a", h, 32);
    dummy_inputs(&tx, 3);
    for (size_t i = 0; i < 4; i++)
        set_witness_hex(&tx, i, EMPTY_WA);
    sign_group(&tx, h, ga, 2, &a, NULL);
    sign_group(&tx, h, gb, 1, &b, NULL);
    assert_hex(tx.witnesses[0].p, 85,
               "5500000010000000550000005500000041000000d59792eee1e67747d25a36304bf155665a9b552ecd"
               "a2d84390ba6acfc422dc3f4b599165078ed98c4e930dec79866b50984f3458c5010faefce6574b9659"
               "329501");
    assert_hex(tx.witnesses[1].p, 85,
               "550000001000000055000000550000004100000091af5eeb1632565dc4a9fb1c6e08d1f1c7da96e10e"
               "e00595a2db208f1d15faca03332a1f0f7a0f8522f6e112bb8dde4ed0015d1683b998744a0d8644f0df"
               "d0f800");
    ckb_tx_free(&tx);
    ckb_key_wipe(&a);
    ckb_key_wipe(&b);
}

static void test_ccc_raw_ecdsa(void **state)
{
    struct ckb_key k;
    uint8_t msg[32], lock[65], pub[33];

    key("0x0123456789012345678901234567890123456789012345678901234567890123", &k);
    unhex("1234567890123456789012345678901234567890123456789012345678901234", msg, 32);
    assert_int_equal(ckb_sign_recoverable(&k, msg, lock), 0);
    assert_hex(lock, 65,
               "f71fd3e5b90289fa939bd3f3c0e263e8ea8e37550417344e58c9b1675084be456c506a30789a6ec989"
               "19e5458b3898199b560a41d5262cb18db37058cff339a300");
    assert_int_equal(ckb_recover_pubkey(lock, msg, pub), 0);
    assert_memory_equal(pub, k.pubkey, 33);
    ckb_key_wipe(&k);
}

/* What the default lock checks, as the simulator will: the recovered key's blake160 is the args. */
static int verify_group0(const struct ckb_tx *tx, const uint8_t args[20])
{
    uint8_t h[32], msg[32], pub[33], b160[20];
    size_t *group = calloc(tx->ninputs, sizeof(*group));
    struct ckb_witness_args wa;
    int rc;

    assert_non_null(group);
    for (size_t i = 0; i < tx->ninputs; i++)
        group[i] = i;
    assert_int_equal(ckb_tx_hash(tx, h), 0);
    rc = ckb_sighash_message(tx, h, group, tx->ninputs, msg);
    free(group);
    if (rc != 0)
        return rc;
    assert_int_equal(ckb_witness_args_decode(tx->witnesses[0].p, tx->witnesses[0].len, &wa), 0);
    rc = ckb_recover_pubkey(wa.lock, msg, pub);
    if (rc != 0)
        return rc;
    ckb_blake160(pub, 33, b160);
    return memcmp(b160, args, 20) == 0 ? 0 : -31;
}

static void test_sign_all_and_verify(void **state)
{
    struct ckb_tx tx;
    struct ckb_key k;
    uint64_t size_before;

    key(KEY_DCEC, &k);
    build_g1(&tx);
    add_input(&tx, "45def2fa2371895941e9e0b26ef9c27dca3ab446238548a472fed3b8ccc799f6", 3);
    add_input(&tx, "9fb88345432208ea1182987ff62b7911de877e74c8016cf4af5168815ce30480", 0);
    set_placeholder(&tx, 0);
    size_before = ckb_tx_size_in_block(&tx);
    assert_int_equal(ckb_tx_sign_all(&tx, &k), 0);
    /* signing does not change the size the fee was computed on */
    assert_int_equal(ckb_tx_size_in_block(&tx), size_before);
    assert_int_equal(tx.nwitnesses, 1);
    assert_int_equal(verify_group0(&tx, k.args), 0);

    /* an extra witness beyond the inputs is covered by the signature */
    assert_int_equal(ckb_tx_set_witness(&tx, 4, "x", 1), 0);
    assert_int_equal(verify_group0(&tx, k.args), -31);
    assert_int_equal(ckb_tx_sign_all(&tx, &k), 0);
    assert_int_equal(verify_group0(&tx, k.args), 0);

    /* so is every output: a changed amount makes the lock fail with -31 */
    tx.outputs[0].capacity += 1;
    assert_int_equal(verify_group0(&tx, k.args), -31);
    tx.outputs[0].capacity -= 1;
    assert_int_equal(verify_group0(&tx, k.args), 0);

    /* a bad recid or an r at the group order does not parse: -14 */
    {
        uint8_t saved[65];
        memcpy(saved, tx.witnesses[0].p + 20, 65);
        tx.witnesses[0].p[84] = 4;
        assert_int_equal(verify_group0(&tx, k.args), -14);
        memcpy(tx.witnesses[0].p + 20, saved, 65);
        unhex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
              tx.witnesses[0].p + 20, 32);
        assert_int_equal(verify_group0(&tx, k.args), -14);
        /* r = 0 parses but recovers nothing: -11 */
        memset(tx.witnesses[0].p + 20, 0, 32);
        assert_int_equal(verify_group0(&tx, k.args), -11);
        memcpy(tx.witnesses[0].p + 20, saved, 65);
        assert_int_equal(verify_group0(&tx, k.args), 0);
    }
    ckb_tx_free(&tx);

    ckb_tx_init(&tx);
    assert_int_equal(ckb_tx_sign_all(&tx, &k), -1); /* no inputs */
    ckb_tx_free(&tx);
    ckb_key_wipe(&k);
}

static void test_message_exit_codes(void **state)
{
    struct ckb_tx tx;
    uint8_t h[32] = {0}, msg[32], big[32769];
    size_t group[] = {0, 1};

    dummy_inputs(&tx, 2);
    assert_int_equal(ckb_sighash_message(&tx, h, group, 2, msg), -3); /* no witness */
    assert_int_equal(ckb_sighash_message(&tx, h, group, 0, msg), -3);
    set_witness_hex(&tx, 0, EMPTY_WA);
    assert_int_equal(ckb_sighash_message(&tx, h, group, 2, msg), -2); /* lock None */
    set_witness_hex(&tx, 0, "abcd");
    assert_int_equal(ckb_sighash_message(&tx, h, group, 2, msg), -2); /* not WitnessArgs */
    /* a 64-byte lock */
    set_witness_hex(&tx, 0,
                    "5400000010000000540000005400000040000000"
                    "0000000000000000000000000000000000000000000000000000000000000000"
                    "0000000000000000000000000000000000000000000000000000000000000000");
    assert_int_equal(ckb_sighash_message(&tx, h, group, 2, msg), -1);
    memset(big, 0, sizeof(big));
    assert_int_equal(ckb_tx_set_witness(&tx, 0, big, sizeof(big)), 0);
    assert_int_equal(ckb_sighash_message(&tx, h, group, 2, msg), -22);
    /* a missing later group witness ends that part of the hash: same as a one-input group */
    set_placeholder(&tx, 0);
    {
        uint8_t m1[32];
        assert_int_equal(ckb_sighash_message(&tx, h, group, 2, msg), 0);
        assert_int_equal(ckb_sighash_message(&tx, h, group, 1, m1), 0);
        assert_memory_equal(msg, m1, 32);
        /* an empty witness 1 is hashed (as length 0), so the message changes */
        assert_int_equal(ckb_tx_set_witness(&tx, 1, NULL, 0), 0);
        assert_int_equal(ckb_sighash_message(&tx, h, group, 2, msg), 0);
        assert_memory_not_equal(msg, m1, 32);
    }
    ckb_tx_free(&tx);
}

/* Writes contents to dir/name with mode; returns the path (static buffer). */
static const char *write_file(const char *dir, const char *name, const char *contents, mode_t mode)
{
    static char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(contents, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
    return path;
}

static void test_key_file(void **state)
{
    char dir[] = "/tmp/fl-ckbkey-XXXXXX", err[512], big[400];
    const char *p;
    struct ckb_key k;
    const char *secret = "dcec27d0d975b0378471183a03f7071dea8532aaf968be796719ecd20af6988f";

    assert_non_null(mkdtemp(dir));

    p = write_file(dir, "ok",
                   "0xdcec27d0d975b0378471183a03f7071dea8532aaf968be796719ecd20af6988f\n", 0600);
    assert_int_equal(ckb_key_load_file(p, &k, err, sizeof(err)), 0);
    assert_hex(k.args, 20, "edb5c73f2a4ad8df23467c9f3446f5851b5e33da");
    ckb_key_wipe(&k);

    /* the same key readable by group or others, or executable, is refused */
    static const mode_t bad_modes[] = {0644, 0640, 0604, 0700, 0400, 0660, 01600};
    for (size_t i = 0; i < sizeof(bad_modes) / sizeof(bad_modes[0]); i++) {
        assert_int_equal(chmod(p, bad_modes[i]), 0);
        err[0] = '\0';
        assert_int_equal(ckb_key_load_file(p, &k, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "mode"));
        assert_non_null(strstr(err, p));
        assert_null(strstr(err, "dcec27d0"));
    }
    assert_int_equal(chmod(p, 0600), 0);
    unlink(p);

    /* a directory, a missing file */
    assert_int_equal(ckb_key_load_file(dir, &k, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a regular file"));
    snprintf(big, sizeof(big), "%s/missing", dir);
    assert_int_equal(ckb_key_load_file(big, &k, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "missing"));

    /* oversize: a valid key followed by padding past 256 bytes */
    memset(big, ' ', sizeof(big));
    memcpy(big, secret, 64);
    big[300] = '\0';
    p = write_file(dir, "big", big, 0600);
    assert_int_equal(ckb_key_load_file(p, &k, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "larger"));
    unlink(p);

    /* bad contents: the error names the file, never the contents */
    p = write_file(dir, "bad", "dcec27d0d975b0378471183a03f7071dea8532aaf968be796719ecd20af6988",
                   0600);
    assert_int_equal(ckb_key_load_file(p, &k, err, sizeof(err)), -1);
    assert_non_null(strstr(err, p));
    assert_null(strstr(err, "dcec27d0"));
    for (size_t i = 0; i < sizeof(k); i++)
        assert_int_equal(((uint8_t *)&k)[i], 0);
    unlink(p);

    /* a FIFO in the key's place is refused without blocking */
    snprintf(big, sizeof(big), "%s/fifo", dir);
    assert_int_equal(mkfifo(big, 0600), 0);
    assert_int_equal(ckb_key_load_file(big, &k, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a regular file"));
    unlink(big);

    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_args),           cmocka_unit_test(test_key_hex_refusals),
        cmocka_unit_test(test_message_g1),         cmocka_unit_test(test_message_g1_g1),
        cmocka_unit_test(test_sdkjs_single_group), cmocka_unit_test(test_sdkjs_multi_groups),
        cmocka_unit_test(test_ccc_raw_ecdsa),      cmocka_unit_test(test_sign_all_and_verify),
        cmocka_unit_test(test_message_exit_codes), cmocka_unit_test(test_key_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
