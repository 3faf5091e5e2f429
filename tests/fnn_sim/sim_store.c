/* State and invoice codec of the FNN simulator (see sim_store.h). Tables are hash maps keyed by
 * the raw 32-byte payment hash; payments are also kept in creation order for sim_get_payments. */
#include "tests/fnn_sim/sim_store.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "core/amount.h"
#include "core/bech32.h"
#include "core/crypto.h"
#include "core/hashmap.h"
#include "core/mem.h"

#define CODEC_VERSION 1
#define SIG_LEN 65
#define MAX_DATA 2048

enum codec_flag {
    CODEC_REMOTE = 1,
    CODEC_AMOUNT = 2,
    CODEC_EXPIRY = 4,
    CODEC_HASH_ALG_SET = 8,
    CODEC_SHA256 = 16,
    CODEC_UDT = 32,
    CODEC_DESCRIPTION = 64,
};

struct sim_store {
    enum sim_currency currency;
    uint64_t clock_offset_ms;
    uint64_t route_fee_ppm;      /* routing fee of every route, parts per million of the amount */
    struct hashmap *invoices[2]; /* by enum sim_node */
    struct hashmap *payments;
    struct sim_payment **order;
    size_t npayments, cap;
    struct sim_channel **channels;
    size_t nchannels, channels_cap;
};

static const char *const currency_names[] = {"Fibb", "Fibt", "Fibd"};
static const char *const currency_hrps[] = {"fibb", "fibt", "fibd"};

const char *sim_currency_name(enum sim_currency c)
{
    return currency_names[c];
}

int sim_currency_parse(const char *s, enum sim_currency *out)
{
    for (int i = 0; s != NULL && i < 3; i++) {
        if (strcmp(s, currency_names[i]) == 0) {
            *out = (enum sim_currency)i;
            return 0;
        }
    }
    return -1;
}

const char *sim_inv_status_name(enum sim_inv_status st)
{
    static const char *const names[] = {"Open", "Cancelled", "Expired", "Received", "Paid"};
    return names[st];
}

const char *sim_pay_status_name(enum sim_pay_status st)
{
    static const char *const names[] = {"Created", "Inflight", "Success", "Failed"};
    return names[st];
}

/* Fixed per-node keys, derived from a label so they are stable across runs and distinct. The
 * "signature" is an HMAC under a key derived the same way: good enough to detect a string that
 * was not issued by this simulator. */
static void node_secret(enum sim_node n, uint8_t out[32])
{
    const char *label = n == SIM_NODE_LOCAL ? "fnn-sim local node" : "fnn-sim remote node";
    crypto_sha256(label, strlen(label), out);
}

const char *sim_node_pubkey(enum sim_node n)
{
    static char keys[2][67];
    if (keys[n][0] == '\0') {
        uint8_t secret[32], pub[32];
        node_secret(n, secret);
        crypto_sha256(secret, sizeof secret, pub);
        keys[n][0] = '0';
        keys[n][1] = n == SIM_NODE_LOCAL ? '2' : '3';
        hex_encode(pub, sizeof pub, keys[n] + 2);
    }
    return keys[n];
}

struct sim_store *sim_store_new(enum sim_currency currency)
{
    struct sim_store *s = xcalloc(1, sizeof *s);
    s->currency = currency;
    s->route_fee_ppm = 1000;
    s->invoices[0] = hashmap_new();
    s->invoices[1] = hashmap_new();
    s->payments = hashmap_new();
    return s;
}

static void invoice_free(void *p)
{
    struct sim_invoice *inv = p;
    free(inv->address);
    free(inv);
}

static void payment_free(void *p)
{
    struct sim_payment *pay = p;
    free(pay->failed_error);
    free(pay->fail_with);
    free(pay);
}

void sim_store_free(struct sim_store *s)
{
    if (s == NULL)
        return;
    hashmap_free(s->invoices[0], invoice_free);
    hashmap_free(s->invoices[1], invoice_free);
    hashmap_free(s->payments, payment_free);
    free(s->order);
    for (size_t i = 0; i < s->nchannels; i++)
        free(s->channels[i]);
    free(s->channels);
    free(s);
}

enum sim_currency sim_store_currency(const struct sim_store *s)
{
    return s->currency;
}

uint64_t sim_store_route_fee_ppm(const struct sim_store *s)
{
    return s->route_fee_ppm;
}

void sim_store_set_route_fee_ppm(struct sim_store *s, uint64_t ppm)
{
    s->route_fee_ppm = ppm;
}

uint64_t sim_store_now_ms(const struct sim_store *s)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000 + s->clock_offset_ms;
}

void sim_store_advance(struct sim_store *s, uint64_t seconds)
{
    s->clock_offset_ms += seconds * 1000;
}

int sim_invoice_expired(const struct sim_store *s, const struct sim_invoice_data *d)
{
    if (!d->has_expiry)
        return 0;
    uint64_t deadline = d->timestamp_ms + d->expiry_s * 1000;
    if (deadline < d->timestamp_ms) /* overflow: effectively never */
        return 0;
    return deadline < sim_store_now_ms(s);
}

enum sim_inv_status sim_invoice_status(const struct sim_store *s, const struct sim_invoice *inv)
{
    if (inv->status == SIM_INV_OPEN && sim_invoice_expired(s, &inv->d))
        return SIM_INV_EXPIRED;
    return inv->status;
}

struct sim_invoice *sim_store_add_invoice(struct sim_store *s, const struct sim_invoice_data *d,
                                          const uint8_t *preimage)
{
    struct hashmap *m = s->invoices[d->node];
    if (hashmap_get(m, (const char *)d->payment_hash, 32) != NULL)
        return NULL;
    struct sim_invoice *inv = xcalloc(1, sizeof *inv);
    inv->d = *d;
    if (preimage != NULL) {
        inv->has_preimage = 1;
        memcpy(inv->preimage, preimage, 32);
    }
    inv->status = SIM_INV_OPEN;
    inv->address = sim_invoice_encode(d);
    hashmap_put(m, (const char *)inv->d.payment_hash, 32, inv);
    return inv;
}

struct sim_invoice *sim_store_invoice(struct sim_store *s, enum sim_node node,
                                      const uint8_t hash[32])
{
    return hashmap_get(s->invoices[node], (const char *)hash, 32);
}

struct sim_payment *sim_store_payment(struct sim_store *s, const uint8_t hash[32])
{
    return hashmap_get(s->payments, (const char *)hash, 32);
}

struct sim_payment *sim_store_add_payment(struct sim_store *s, const uint8_t hash[32])
{
    struct sim_payment *p = xcalloc(1, sizeof *p);
    memcpy(p->payment_hash, hash, 32);
    hashmap_put(s->payments, (const char *)p->payment_hash, 32, p);
    if (s->npayments == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->order = xrealloc(s->order, s->cap * sizeof *s->order);
    }
    s->order[s->npayments++] = p;
    return p;
}

size_t sim_store_payment_count(const struct sim_store *s)
{
    return s->npayments;
}

struct sim_payment *sim_store_payment_at(struct sim_store *s, size_t i)
{
    return i < s->npayments ? s->order[i] : NULL;
}

struct sim_channel *sim_store_add_channel(struct sim_store *s, const struct sim_channel *c)
{
    struct sim_channel *ch = xmalloc(sizeof *ch);
    *ch = *c;
    if (s->nchannels == s->channels_cap) {
        s->channels_cap = s->channels_cap ? s->channels_cap * 2 : 8;
        s->channels = xrealloc(s->channels, s->channels_cap * sizeof *s->channels);
    }
    s->channels[s->nchannels++] = ch;
    return ch;
}

struct sim_channel *sim_store_channel(struct sim_store *s, const uint8_t id[32])
{
    for (size_t i = 0; i < s->nchannels; i++) {
        if (memcmp(s->channels[i]->channel_id, id, 32) == 0)
            return s->channels[i];
    }
    return NULL;
}

size_t sim_store_channel_count(const struct sim_store *s)
{
    return s->nchannels;
}

struct sim_channel *sim_store_channel_at(struct sim_store *s, size_t i)
{
    return i < s->nchannels ? s->channels[i] : NULL;
}

/* ---- invoice string codec ---- */

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static void sign(enum sim_node node, const uint8_t *body, size_t len, uint8_t sig[SIG_LEN])
{
    uint8_t key[32];
    node_secret(node, key);
    crypto_hmac_sha256(key, sizeof key, body, len, sig);
    crypto_hmac_sha256(key, sizeof key, sig, 32, sig + 32);
    sig[64] = sig[0] & 1; /* stands in for the recovery id */
}

/* Serializes d into buf (MAX_DATA bytes); returns the length. */
static size_t body_encode(const struct sim_invoice_data *d, uint8_t *buf)
{
    size_t n = 0;
    buf[n++] = CODEC_VERSION;
    buf[n++] =
        (uint8_t)((d->node == SIM_NODE_REMOTE ? CODEC_REMOTE : 0) |
                  (d->has_amount ? CODEC_AMOUNT : 0) | (d->has_expiry ? CODEC_EXPIRY : 0) |
                  (d->hash_alg_set ? CODEC_HASH_ALG_SET : 0) |
                  (d->hash_alg == SIM_HASH_SHA256 ? CODEC_SHA256 : 0) |
                  (d->has_udt ? CODEC_UDT : 0) | (d->has_description ? CODEC_DESCRIPTION : 0));
    hex_decode(sim_node_pubkey(d->node), 66, buf + n, 33);
    n += 33;
    memcpy(buf + n, d->payment_hash, 32);
    n += 32;
    put64(buf + n, d->amount);
    put64(buf + n + 8, d->timestamp_ms);
    put64(buf + n + 16, d->expiry_s);
    put64(buf + n + 24, d->final_expiry_delta_ms);
    n += 32;
    size_t dl = d->has_description ? strlen(d->description) : 0;
    buf[n++] = (uint8_t)(dl >> 8);
    buf[n++] = (uint8_t)dl;
    memcpy(buf + n, d->description, dl);
    n += dl;
    if (d->has_udt) {
        memcpy(buf + n, d->udt.code_hash, 32);
        n += 32;
        buf[n++] = d->udt.hash_type;
        buf[n++] = (uint8_t)(d->udt.args_len >> 8);
        buf[n++] = (uint8_t)d->udt.args_len;
        memcpy(buf + n, d->udt.args, d->udt.args_len);
        n += d->udt.args_len;
    }
    return n;
}

static void make_hrp(const struct sim_invoice_data *d, char *hrp, size_t sz)
{
    if (d->has_amount)
        snprintf(hrp, sz, "%s%llu", currency_hrps[d->currency], (unsigned long long)d->amount);
    else
        snprintf(hrp, sz, "%s", currency_hrps[d->currency]);
}

char *sim_invoice_encode(const struct sim_invoice_data *d)
{
    uint8_t buf[MAX_DATA];
    size_t n = body_encode(d, buf);
    sign(d->node, buf, n, buf + n);
    n += SIG_LEN;
    char hrp[48];
    make_hrp(d, hrp, sizeof hrp);
    size_t outsz = strlen(hrp) + 1 + (n * 8 + 4) / 5 + 6 + 1;
    char *out = xmalloc(outsz);
    if (bech32m_encode(hrp, buf, n, out, outsz) < 0)
        abort(); /* outsz is computed from the format: a failure is a bug */
    return out;
}

int sim_invoice_decode(const char *s, struct sim_invoice_data *d, char *err, size_t errsz)
{
    uint8_t buf[MAX_DATA];
    size_t n = sizeof buf;
    char hrp[128];
    memset(d, 0, sizeof *d);
    if (s == NULL || bech32m_decode(s, strlen(s), hrp, sizeof hrp, buf, &n) < 0) {
        snprintf(err, errsz, "Bech32 error: invalid bech32m string or checksum");
        return -1;
    }
    for (char *p = hrp; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (strlen(hrp) < 4) {
        snprintf(err, errsz, "Parsing failed with malformed HRP: %s", hrp);
        return -1;
    }
    int cur = -1;
    for (int i = 0; i < 3; i++) {
        if (strncmp(hrp, currency_hrps[i], 4) == 0)
            cur = i;
    }
    if (cur < 0) {
        snprintf(err, errsz, "Unknown currency: %.4s", hrp);
        return -1;
    }
    d->currency = (enum sim_currency)cur;
    const char *amt = hrp + 4;
    uint64_t hrp_amount = 0;
    int hrp_has_amount = amt[0] != '\0';
    for (const char *p = amt; *p; p++) {
        if (!isdigit((unsigned char)*p) || hrp_amount > (UINT64_MAX - 9) / 10) {
            snprintf(err, errsz, "Failed to parse amount: invalid digit found in string");
            return -1;
        }
        hrp_amount = hrp_amount * 10 + (uint64_t)(*p - '0');
    }
    if (n < 101 + SIG_LEN || buf[0] != CODEC_VERSION) {
        snprintf(err, errsz, "Too short data part");
        return -1;
    }
    size_t body = n - SIG_LEN;
    uint8_t flags = buf[1];
    d->node = (flags & CODEC_REMOTE) ? SIM_NODE_REMOTE : SIM_NODE_LOCAL;
    uint8_t want_pub[33];
    hex_decode(sim_node_pubkey(d->node), 66, want_pub, 33);
    uint8_t sig[SIG_LEN];
    sign(d->node, buf, body, sig);
    if (memcmp(want_pub, buf + 2, 33) != 0 || !crypto_equal(sig, buf + body, SIG_LEN)) {
        snprintf(err, errsz, "Invalid signature");
        return -1;
    }
    /* Past the signature check the body is our own encoding; bounds are still checked. */
    memcpy(d->payment_hash, buf + 35, 32);
    d->has_amount = (flags & CODEC_AMOUNT) != 0;
    d->amount = get64(buf + 67);
    d->timestamp_ms = get64(buf + 75);
    d->has_expiry = (flags & CODEC_EXPIRY) != 0;
    d->expiry_s = get64(buf + 83);
    d->final_expiry_delta_ms = get64(buf + 91);
    d->hash_alg_set = (flags & CODEC_HASH_ALG_SET) != 0;
    d->hash_alg = (flags & CODEC_SHA256) ? SIM_HASH_SHA256 : SIM_HASH_CKB;
    size_t off = 99;
    size_t dl = ((size_t)buf[off] << 8) | buf[off + 1];
    off += 2;
    if (dl > SIM_MAX_DESCRIPTION || off + dl > body)
        goto short_data;
    d->has_description = (flags & CODEC_DESCRIPTION) != 0;
    memcpy(d->description, buf + off, dl);
    d->description[dl] = '\0';
    off += dl;
    if (flags & CODEC_UDT) {
        if (off + 35 > body)
            goto short_data;
        d->has_udt = 1;
        memcpy(d->udt.code_hash, buf + off, 32);
        d->udt.hash_type = buf[off + 32];
        d->udt.args_len = ((size_t)buf[off + 33] << 8) | buf[off + 34];
        off += 35;
        if (d->udt.args_len > SIM_MAX_UDT_ARGS || off + d->udt.args_len > body)
            goto short_data;
        memcpy(d->udt.args, buf + off, d->udt.args_len);
        off += d->udt.args_len;
    }
    if (off != body)
        goto short_data;
    if (hrp_has_amount != d->has_amount || (d->has_amount && hrp_amount != d->amount)) {
        snprintf(err, errsz, "Failed to parse amount: amount in HRP does not match the data");
        return -1;
    }
    return 0;
short_data:
    snprintf(err, errsz, "Unexpected end of tagged fields");
    return -1;
}

static void hex_field(const uint8_t *b, size_t n, char *out)
{
    out[0] = '0';
    out[1] = 'x';
    hex_encode(b, n, out + 2);
}

/* Molecule encoding of a CKB Script table: header (total size, three field offsets, u32 LE),
 * code_hash, hash_type byte, args as Bytes (u32 LE length + bytes). */
static char *udt_molecule_hex(const struct sim_udt *u)
{
    uint8_t m[16 + 32 + 1 + 4 + SIM_MAX_UDT_ARGS];
    uint32_t fields[5] = {(uint32_t)(16 + 32 + 1 + 4 + u->args_len), 16, 48, 49,
                          (uint32_t)u->args_len};
    for (int i = 0; i < 4; i++)
        for (int b = 0; b < 4; b++)
            m[4 * i + b] = (uint8_t)(fields[i] >> (8 * b));
    memcpy(m + 16, u->code_hash, 32);
    m[48] = u->hash_type;
    for (int b = 0; b < 4; b++)
        m[49 + b] = (uint8_t)(fields[4] >> (8 * b));
    memcpy(m + 53, u->args, u->args_len);
    size_t len = 53 + u->args_len;
    char *out = xmalloc(2 * len + 3);
    hex_field(m, len, out);
    return out;
}

json_t *sim_invoice_json(const struct sim_invoice_data *d)
{
    char hash[67], num[24];
    hex_field(d->payment_hash, 32, hash);
    json_t *attrs = json_array();
    if (d->has_description)
        json_array_append_new(attrs, json_pack("{s:s}", "description", d->description));
    if (d->has_expiry) {
        u128hex_encode(d->expiry_s, num);
        json_array_append_new(attrs, json_pack("{s:s}", "expiry_time", num));
    }
    u128hex_encode(d->final_expiry_delta_ms, num);
    json_array_append_new(attrs, json_pack("{s:s}", "final_htlc_minimum_expiry_delta", num));
    if (d->has_udt) {
        char *udt = udt_molecule_hex(&d->udt);
        json_array_append_new(attrs, json_pack("{s:s}", "udt_script", udt));
        free(udt);
    }
    if (d->hash_alg_set)
        json_array_append_new(attrs,
                              json_pack("{s:s}", "hash_algorithm",
                                        d->hash_alg == SIM_HASH_SHA256 ? "sha256" : "ckb_hash"));
    json_array_append_new(attrs, json_pack("{s:s}", "payee_public_key", sim_node_pubkey(d->node)));

    uint8_t buf[MAX_DATA], sig[SIG_LEN];
    size_t n = body_encode(d, buf);
    sign(d->node, buf, n, sig);
    char sighex[2 * SIG_LEN + 1];
    hex_encode(sig, SIG_LEN, sighex);
    char ts[24];
    u128hex_encode(d->timestamp_ms, ts);
    json_t *amount = json_null();
    if (d->has_amount) {
        u128hex_encode(d->amount, num);
        json_decref(amount);
        amount = json_string(num);
    }
    return json_pack("{s:s, s:o, s:s, s:{s:s, s:s, s:o}}", "currency", currency_names[d->currency],
                     "amount", amount, "signature", sighex, "data", "timestamp", ts, "payment_hash",
                     hash, "attrs", attrs);
}
