/* CKB transactions in their two wire forms (ckb-onchain.md §3, §8) and the arithmetic around them
 * (§6, §7). The molecule writer lays out every table and dynvec with a header that is patched once
 * the items are written; the molecule reader is the strict one (compatible = false): a total size
 * equal to the slice, a first offset that is the header size, offsets that never go backwards,
 * exact field counts and exact fixvec/struct sizes. Because those rules leave exactly one encoding
 * per value, whatever decodes re-serializes to the same bytes (fuzz/fuzz_ckb_tx.c checks it). The
 * JSON side is just as strict: numbers in the node's Uint form ("0x0", no leading zeros), hashes
 * of 64 digits, hash_type and dep_type by name, no unknown members. Hex digits must be lowercase:
 * the node itself would also take uppercase digits, but it and this module only ever emit
 * lowercase, so accepting one spelling keeps every JSON value canonical. */
#include "core/ckb_tx.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ckb_hash.h"

/* ---- buffer ---- */

void ckb_buf_free(struct ckb_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* Makes room for n more bytes. */
static int buf_reserve(struct ckb_buf *b, size_t n)
{
    size_t cap;
    uint8_t *np;

    if (n <= b->cap - b->len)
        return 0;
    if (n > SIZE_MAX / 2 - b->len)
        return -1;
    cap = b->cap ? b->cap : 256;
    while (cap < b->len + n)
        cap *= 2;
    np = realloc(b->p, cap);
    if (np == NULL)
        return -1;
    b->p = np;
    b->cap = cap;
    return 0;
}

int ckb_buf_append(struct ckb_buf *b, const void *data, size_t n)
{
    if (n == 0)
        return 0;
    if (buf_reserve(b, n) < 0)
        return -1;
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

static void le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static int put32(struct ckb_buf *b, uint32_t v)
{
    uint8_t t[4];
    le32(t, v);
    return ckb_buf_append(b, t, 4);
}

static int put64(struct ckb_buf *b, uint64_t v)
{
    uint8_t t[8];
    le64(t, v);
    return ckb_buf_append(b, t, 8);
}

/* ---- transaction ownership and builders ---- */

void ckb_tx_init(struct ckb_tx *tx)
{
    memset(tx, 0, sizeof(*tx));
}

void ckb_tx_free(struct ckb_tx *tx)
{
    for (size_t i = 0; i < tx->noutputs; i++)
        free(tx->outputs_data[i].p);
    for (size_t i = 0; i < tx->nwitnesses; i++)
        free(tx->witnesses[i].p);
    free(tx->cell_deps);
    free(tx->header_deps);
    free(tx->inputs);
    free(tx->outputs);
    free(tx->outputs_data);
    free(tx->witnesses);
    ckb_tx_init(tx);
}

/* Grows *arr (of n items of size sz) to n + k items; the new items are zeroed. */
static int grow(void *arr, size_t n, size_t k, size_t sz)
{
    void **pp = arr;
    void *np;

    if (k == 0)
        return 0;
    if (n + k < n || n + k > SIZE_MAX / sz)
        return -1;
    np = realloc(*pp, (n + k) * sz);
    if (np == NULL)
        return -1;
    memset((uint8_t *)np + n * sz, 0, k * sz);
    *pp = np;
    return 0;
}

/* Sets *b to an owned copy of data[0..len). */
static int bytes_set(struct ckb_bytes *b, const void *data, size_t len)
{
    uint8_t *p = NULL;

    if (len > 0) {
        p = malloc(len);
        if (p == NULL)
            return -1;
        memcpy(p, data, len);
    }
    free(b->p);
    b->p = p;
    b->len = len;
    return 0;
}

int ckb_tx_add_cell_dep(struct ckb_tx *tx, const struct ckb_cell_dep *d)
{
    if (grow(&tx->cell_deps, tx->ncell_deps, 1, sizeof(*tx->cell_deps)) < 0)
        return -1;
    tx->cell_deps[tx->ncell_deps++] = *d;
    return 0;
}

int ckb_tx_add_input(struct ckb_tx *tx, const struct ckb_input *in)
{
    if (grow(&tx->inputs, tx->ninputs, 1, sizeof(*tx->inputs)) < 0)
        return -1;
    tx->inputs[tx->ninputs++] = *in;
    return 0;
}

int ckb_tx_add_output(struct ckb_tx *tx, const struct ckb_output *out, const void *data,
                      size_t data_len)
{
    struct ckb_bytes copy = {NULL, 0};

    if (bytes_set(&copy, data, data_len) < 0)
        return -1;
    /* outputs and outputs_data always have noutputs entries: grow both before counting */
    if (grow(&tx->outputs, tx->noutputs, 1, sizeof(*tx->outputs)) < 0 ||
        grow(&tx->outputs_data, tx->noutputs, 1, sizeof(*tx->outputs_data)) < 0) {
        free(copy.p);
        return -1;
    }
    tx->outputs[tx->noutputs] = *out;
    tx->outputs_data[tx->noutputs] = copy;
    tx->noutputs++;
    return 0;
}

int ckb_tx_set_witness(struct ckb_tx *tx, size_t i, const void *w, size_t len)
{
    if (i >= tx->nwitnesses) {
        if (grow(&tx->witnesses, tx->nwitnesses, i + 1 - tx->nwitnesses, sizeof(*tx->witnesses)) <
            0)
            return -1;
        tx->nwitnesses = i + 1;
    }
    return bytes_set(&tx->witnesses[i], w, len);
}

/* ---- molecule writer ---- */

/* A table or dynvec being written: the header (total size, then one offset per item) is reserved
 * at start and each offset is filled in as its item begins. */
struct mol_hdr {
    size_t start, n, i;
};

static int hdr_begin(struct ckb_buf *b, struct mol_hdr *h, size_t n)
{
    h->start = b->len;
    h->n = n;
    h->i = 0;
    if (buf_reserve(b, 4 * (n + 1)) < 0)
        return -1;
    memset(b->p + b->len, 0, 4 * (n + 1));
    b->len += 4 * (n + 1);
    return 0;
}

static int hdr_item(struct ckb_buf *b, struct mol_hdr *h)
{
    size_t off = b->len - h->start;
    if (off > UINT32_MAX)
        return -1;
    le32(b->p + h->start + 4 * (1 + h->i++), (uint32_t)off);
    return 0;
}

static int hdr_end(struct ckb_buf *b, struct mol_hdr *h)
{
    size_t total = b->len - h->start;
    if (total > UINT32_MAX)
        return -1;
    le32(b->p + h->start, (uint32_t)total);
    return 0;
}

/* Bytes: u32 length then the bytes. */
static int put_bytes(struct ckb_buf *b, const uint8_t *p, size_t len)
{
    if (len > UINT32_MAX - 4)
        return -1;
    if (put32(b, (uint32_t)len) < 0)
        return -1;
    return ckb_buf_append(b, p, len);
}

int ckb_script_serialize(const struct ckb_script *s, struct ckb_buf *out)
{
    struct mol_hdr h;

    if (s->args_len > CKB_SCRIPT_ARGS_MAX)
        return -1;
    if (hdr_begin(out, &h, 3) < 0 || hdr_item(out, &h) < 0 ||
        ckb_buf_append(out, s->code_hash, 32) < 0 || hdr_item(out, &h) < 0 ||
        ckb_buf_append(out, &s->hash_type, 1) < 0 || hdr_item(out, &h) < 0 ||
        put_bytes(out, s->args, s->args_len) < 0)
        return -1;
    return hdr_end(out, &h);
}

void ckb_script_hash(const struct ckb_script *s, uint8_t out[32])
{
    /* A Script is at most 53 + CKB_SCRIPT_ARGS_MAX bytes: hash it in pieces, no allocation. */
    uint8_t hdr[16], lenb[4];
    struct ckb_hasher h;
    size_t args_len = s->args_len > CKB_SCRIPT_ARGS_MAX ? CKB_SCRIPT_ARGS_MAX : s->args_len;

    le32(hdr, (uint32_t)(53 + args_len));
    le32(hdr + 4, 16);
    le32(hdr + 8, 48);
    le32(hdr + 12, 49);
    le32(lenb, (uint32_t)args_len);
    ckb_hasher_init(&h);
    ckb_hasher_update(&h, hdr, sizeof(hdr));
    ckb_hasher_update(&h, s->code_hash, 32);
    ckb_hasher_update(&h, &s->hash_type, 1);
    ckb_hasher_update(&h, lenb, 4);
    ckb_hasher_update(&h, s->args, args_len);
    ckb_hasher_final(&h, out);
}

int ckb_output_serialize(const struct ckb_output *o, struct ckb_buf *out)
{
    struct mol_hdr h;

    if (hdr_begin(out, &h, 3) < 0 || hdr_item(out, &h) < 0 || put64(out, o->capacity) < 0 ||
        hdr_item(out, &h) < 0 || ckb_script_serialize(&o->lock, out) < 0 || hdr_item(out, &h) < 0)
        return -1;
    /* ScriptOpt: None is zero bytes */
    if (o->has_type && ckb_script_serialize(&o->type, out) < 0)
        return -1;
    return hdr_end(out, &h);
}

static int put_out_point(struct ckb_buf *b, const struct ckb_out_point *op)
{
    if (ckb_buf_append(b, op->tx_hash, 32) < 0)
        return -1;
    return put32(b, op->index);
}

/* A fixvec's count. */
static int put_count(struct ckb_buf *b, size_t n)
{
    if (n > UINT32_MAX)
        return -1;
    return put32(b, (uint32_t)n);
}

/* BytesVec: a dynvec of Bytes. */
static int put_bytes_vec(struct ckb_buf *b, const struct ckb_bytes *v, size_t n)
{
    struct mol_hdr h;

    if (n > UINT32_MAX / 4)
        return -1;
    if (hdr_begin(b, &h, n) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (hdr_item(b, &h) < 0 || put_bytes(b, v[i].p, v[i].len) < 0)
            return -1;
    return hdr_end(b, &h);
}

int ckb_tx_serialize_raw(const struct ckb_tx *tx, struct ckb_buf *out)
{
    struct mol_hdr h, ho;

    if (tx->noutputs > UINT32_MAX / 4)
        return -1;
    if (hdr_begin(out, &h, 6) < 0 || hdr_item(out, &h) < 0 || put32(out, tx->version) < 0)
        return -1;

    if (hdr_item(out, &h) < 0 || put_count(out, tx->ncell_deps) < 0)
        return -1;
    for (size_t i = 0; i < tx->ncell_deps; i++)
        if (put_out_point(out, &tx->cell_deps[i].out_point) < 0 ||
            ckb_buf_append(out, &tx->cell_deps[i].dep_type, 1) < 0)
            return -1;

    if (hdr_item(out, &h) < 0 || put_count(out, tx->nheader_deps) < 0)
        return -1;
    for (size_t i = 0; i < tx->nheader_deps; i++)
        if (ckb_buf_append(out, tx->header_deps[i], 32) < 0)
            return -1;

    if (hdr_item(out, &h) < 0 || put_count(out, tx->ninputs) < 0)
        return -1;
    for (size_t i = 0; i < tx->ninputs; i++)
        if (put64(out, tx->inputs[i].since) < 0 ||
            put_out_point(out, &tx->inputs[i].previous_output) < 0)
            return -1;

    if (hdr_item(out, &h) < 0 || hdr_begin(out, &ho, tx->noutputs) < 0)
        return -1;
    for (size_t i = 0; i < tx->noutputs; i++)
        if (hdr_item(out, &ho) < 0 || ckb_output_serialize(&tx->outputs[i], out) < 0)
            return -1;
    if (hdr_end(out, &ho) < 0)
        return -1;

    if (hdr_item(out, &h) < 0 || put_bytes_vec(out, tx->outputs_data, tx->noutputs) < 0)
        return -1;
    return hdr_end(out, &h);
}

int ckb_tx_serialize(const struct ckb_tx *tx, struct ckb_buf *out)
{
    struct mol_hdr h;

    if (hdr_begin(out, &h, 2) < 0 || hdr_item(out, &h) < 0 || ckb_tx_serialize_raw(tx, out) < 0 ||
        hdr_item(out, &h) < 0 || put_bytes_vec(out, tx->witnesses, tx->nwitnesses) < 0)
        return -1;
    return hdr_end(out, &h);
}

int ckb_tx_hash(const struct ckb_tx *tx, uint8_t out[32])
{
    struct ckb_buf b = {0};

    if (ckb_tx_serialize_raw(tx, &b) < 0) {
        ckb_buf_free(&b);
        return -1;
    }
    ckb_hash(b.p, b.len, out);
    ckb_buf_free(&b);
    return 0;
}

/* ---- molecule reader ---- */

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

/* A slice of the input. */
struct mol {
    const uint8_t *p;
    size_t len;
};

/* Checks a table or dynvec header over s: the total size is the slice, the offsets start right
 * after the header and never decrease, and none points past the end. Sets *n to the item count.
 * A dynvec may be empty (just its 4-byte size); a table never is. */
static int mol_header(struct mol s, int is_table, size_t *n)
{
    uint32_t first;

    if (s.len < 4 || rd32(s.p) != s.len)
        return -1;
    if (s.len == 4) {
        if (is_table)
            return -1;
        *n = 0;
        return 0;
    }
    if (s.len < 8)
        return -1;
    first = rd32(s.p + 4);
    if (first % 4 != 0 || first < 8 || first > s.len)
        return -1;
    *n = first / 4 - 1;
    for (size_t i = 0; i < *n; i++) {
        uint32_t a = rd32(s.p + 4 + 4 * i);
        uint32_t b = i + 1 < *n ? rd32(s.p + 8 + 4 * i) : (uint32_t)s.len;
        if (a > b || b > s.len)
            return -1;
    }
    return 0;
}

/* Item i of a header already checked by mol_header. */
static struct mol mol_item(struct mol s, size_t n, size_t i)
{
    uint32_t a = rd32(s.p + 4 + 4 * i);
    uint32_t b = i + 1 < n ? rd32(s.p + 8 + 4 * i) : (uint32_t)s.len;
    struct mol r = {s.p + a, b - a};
    return r;
}

/* A table of exactly nfields fields. */
static int mol_table(struct mol s, size_t nfields)
{
    size_t n;
    return mol_header(s, 1, &n) < 0 || n != nfields ? -1 : 0;
}

/* A fixvec of items of size sz: sets *n. */
static int mol_fixvec(struct mol s, size_t sz, size_t *n)
{
    uint64_t count;

    if (s.len < 4)
        return -1;
    count = rd32(s.p);
    if (4 + count * sz != s.len)
        return -1;
    *n = (size_t)count;
    return 0;
}

static int mol_bytes(struct mol s, struct mol *content)
{
    size_t n;
    if (mol_fixvec(s, 1, &n) < 0)
        return -1;
    content->p = s.p + 4;
    content->len = n;
    return 0;
}

static int decode_script(struct mol s, struct ckb_script *out, char *err, size_t errsz,
                         const char *what)
{
    struct mol f, args;

    if (mol_table(s, 3) < 0) {
        seterr(err, errsz, "%s: not a Script table", what);
        return -1;
    }
    f = mol_item(s, 3, 0);
    if (f.len != 32) {
        seterr(err, errsz, "%s.code_hash: not 32 bytes", what);
        return -1;
    }
    memcpy(out->code_hash, f.p, 32);
    f = mol_item(s, 3, 1);
    if (f.len != 1) {
        seterr(err, errsz, "%s.hash_type: not one byte", what);
        return -1;
    }
    out->hash_type = f.p[0];
    if (mol_bytes(mol_item(s, 3, 2), &args) < 0) {
        seterr(err, errsz, "%s.args: not Bytes", what);
        return -1;
    }
    if (args.len > CKB_SCRIPT_ARGS_MAX) {
        seterr(err, errsz, "%s.args: longer than %d bytes", what, CKB_SCRIPT_ARGS_MAX);
        return -1;
    }
    out->args_len = args.len;
    memcpy(out->args, args.p, args.len);
    return 0;
}

static int decode_output(struct mol s, struct ckb_output *o, char *err, size_t errsz, size_t idx)
{
    struct mol f;
    char what[64];

    if (mol_table(s, 3) < 0) {
        seterr(err, errsz, "outputs[%zu]: not a CellOutput table", idx);
        return -1;
    }
    f = mol_item(s, 3, 0);
    if (f.len != 8) {
        seterr(err, errsz, "outputs[%zu].capacity: not 8 bytes", idx);
        return -1;
    }
    o->capacity = rd64(f.p);
    snprintf(what, sizeof(what), "outputs[%zu].lock", idx);
    if (decode_script(mol_item(s, 3, 1), &o->lock, err, errsz, what) < 0)
        return -1;
    f = mol_item(s, 3, 2);
    o->has_type = f.len > 0;
    if (o->has_type) {
        snprintf(what, sizeof(what), "outputs[%zu].type", idx);
        if (decode_script(f, &o->type, err, errsz, what) < 0)
            return -1;
    }
    return 0;
}

/* A BytesVec into a new array of owned Bytes. */
static int decode_bytes_vec(struct mol s, struct ckb_bytes **out, size_t *nout, char *err,
                            size_t errsz, const char *what)
{
    size_t n;
    struct ckb_bytes *v;

    *out = NULL;
    *nout = 0;
    if (mol_header(s, 0, &n) < 0) {
        seterr(err, errsz, "%s: not a BytesVec", what);
        return -1;
    }
    v = n ? calloc(n, sizeof(*v)) : NULL;
    if (n && v == NULL) {
        seterr(err, errsz, "%s: out of memory", what);
        return -1;
    }
    /* count first so the caller frees whatever was copied if a later item fails */
    *out = v;
    *nout = n;
    for (size_t i = 0; i < n; i++) {
        struct mol c;
        if (mol_bytes(mol_item(s, n, i), &c) < 0) {
            seterr(err, errsz, "%s[%zu]: not Bytes", what, i);
            return -1;
        }
        if (bytes_set(&v[i], c.p, c.len) < 0) {
            seterr(err, errsz, "%s[%zu]: out of memory", what, i);
            return -1;
        }
    }
    return 0;
}

static void read_out_point(const uint8_t *p, struct ckb_out_point *op)
{
    memcpy(op->tx_hash, p, 32);
    op->index = rd32(p + 32);
}

static int decode_raw(struct mol s, struct ckb_tx *tx, char *err, size_t errsz)
{
    struct mol f;
    size_t n;

    if (mol_table(s, 6) < 0) {
        seterr(err, errsz, "raw: not a RawTransaction table");
        return -1;
    }
    f = mol_item(s, 6, 0);
    if (f.len != 4) {
        seterr(err, errsz, "version: not 4 bytes");
        return -1;
    }
    tx->version = rd32(f.p);

    f = mol_item(s, 6, 1);
    if (mol_fixvec(f, 37, &n) < 0) {
        seterr(err, errsz, "cell_deps: not a CellDepVec");
        return -1;
    }
    if (grow(&tx->cell_deps, 0, n, sizeof(*tx->cell_deps)) < 0)
        goto nomem;
    tx->ncell_deps = n;
    for (size_t i = 0; i < n; i++) {
        read_out_point(f.p + 4 + 37 * i, &tx->cell_deps[i].out_point);
        tx->cell_deps[i].dep_type = f.p[4 + 37 * i + 36];
    }

    f = mol_item(s, 6, 2);
    if (mol_fixvec(f, 32, &n) < 0) {
        seterr(err, errsz, "header_deps: not a Byte32Vec");
        return -1;
    }
    if (grow(&tx->header_deps, 0, n, sizeof(*tx->header_deps)) < 0)
        goto nomem;
    tx->nheader_deps = n;
    if (n)
        memcpy(tx->header_deps, f.p + 4, 32 * n);

    f = mol_item(s, 6, 3);
    if (mol_fixvec(f, 44, &n) < 0) {
        seterr(err, errsz, "inputs: not a CellInputVec");
        return -1;
    }
    if (grow(&tx->inputs, 0, n, sizeof(*tx->inputs)) < 0)
        goto nomem;
    tx->ninputs = n;
    for (size_t i = 0; i < n; i++) {
        tx->inputs[i].since = rd64(f.p + 4 + 44 * i);
        read_out_point(f.p + 4 + 44 * i + 8, &tx->inputs[i].previous_output);
    }

    {
        struct mol outs = mol_item(s, 6, 4), data = mol_item(s, 6, 5);
        size_t nout, ndata;
        struct ckb_bytes *dv = NULL;

        if (mol_header(outs, 0, &nout) < 0) {
            seterr(err, errsz, "outputs: not a CellOutputVec");
            return -1;
        }
        if (grow(&tx->outputs, 0, nout, sizeof(*tx->outputs)) < 0)
            goto nomem;
        /* noutputs counts outputs_data too: it is set once both arrays exist */
        for (size_t i = 0; i < nout; i++)
            if (decode_output(mol_item(outs, nout, i), &tx->outputs[i], err, errsz, i) < 0)
                return -1;
        if (decode_bytes_vec(data, &dv, &ndata, err, errsz, "outputs_data") < 0) {
            for (size_t i = 0; i < ndata; i++)
                free(dv[i].p);
            free(dv);
            return -1;
        }
        if (ndata != nout) {
            /* The verifier reports OutputsDataLengthMismatch; this struct cannot hold it. */
            for (size_t i = 0; i < ndata; i++)
                free(dv[i].p);
            free(dv);
            seterr(err, errsz, "outputs_data: %zu entries for %zu outputs", ndata, nout);
            return -1;
        }
        tx->outputs_data = dv;
        tx->noutputs = nout;
    }
    return 0;

nomem:
    seterr(err, errsz, "out of memory");
    return -1;
}

int ckb_tx_decode(const uint8_t *p, size_t len, struct ckb_tx *tx, char *err, size_t errsz)
{
    struct mol s = {p, len};

    ckb_tx_init(tx);
    if (mol_table(s, 2) < 0) {
        seterr(err, errsz, "not a Transaction table");
        return -1;
    }
    if (decode_raw(mol_item(s, 2, 0), tx, err, errsz) < 0)
        goto fail;
    if (decode_bytes_vec(mol_item(s, 2, 1), &tx->witnesses, &tx->nwitnesses, err, errsz,
                         "witnesses") < 0)
        goto fail;
    return 0;

fail:
    ckb_tx_free(tx);
    return -1;
}

/* ---- WitnessArgs ---- */

void ckb_witness_args_lock(const uint8_t lock[65], uint8_t out[CKB_WITNESS_LOCK_LEN])
{
    le32(out, CKB_WITNESS_LOCK_LEN);
    le32(out + 4, 16);
    le32(out + 8, CKB_WITNESS_LOCK_LEN);
    le32(out + 12, CKB_WITNESS_LOCK_LEN);
    le32(out + 16, 65);
    memcpy(out + 20, lock, 65);
}

int ckb_witness_args_decode(const uint8_t *w, size_t len, struct ckb_witness_args *out)
{
    struct mol s = {w, len}, f[3], c;

    memset(out, 0, sizeof(*out));
    if (mol_table(s, 3) < 0)
        return -1;
    for (int i = 0; i < 3; i++) {
        f[i] = mol_item(s, 3, (size_t)i);
        /* BytesOpt: None is empty, Some must be a whole Bytes */
        if (f[i].len > 0 && mol_bytes(f[i], &c) < 0)
            return -1;
    }
    out->has_lock = f[0].len > 0;
    out->has_input_type = f[1].len > 0;
    out->has_output_type = f[2].len > 0;
    if (out->has_lock) {
        out->lock = f[0].p + 4;
        out->lock_len = f[0].len - 4;
        out->lock_offset = (size_t)(out->lock - w);
    }
    return 0;
}

/* ---- capacity and fee ---- */

uint64_t ckb_output_occupied(const struct ckb_output *o, size_t data_len)
{
    uint64_t bytes = 8 + 33 + (uint64_t)o->lock.args_len + (uint64_t)data_len;
    if (o->has_type)
        bytes += 33 + (uint64_t)o->type.args_len;
    return bytes * CKB_SHANNONS_PER_CKB;
}

/* Molecule sizes, computed rather than written: the size of a tx must not need an allocation. */
static uint64_t script_size(const struct ckb_script *s)
{
    return 53 + (uint64_t)s->args_len;
}

static uint64_t bytes_vec_size(const struct ckb_bytes *v, size_t n)
{
    uint64_t sz = 4 + 4 * (uint64_t)n;
    for (size_t i = 0; i < n; i++)
        sz += 4 + (uint64_t)v[i].len;
    return sz;
}

uint64_t ckb_tx_size_in_block(const struct ckb_tx *tx)
{
    uint64_t raw = 28 + 4 + (4 + 37 * (uint64_t)tx->ncell_deps) +
                   (4 + 32 * (uint64_t)tx->nheader_deps) + (4 + 44 * (uint64_t)tx->ninputs);
    uint64_t outs = 4 + 4 * (uint64_t)tx->noutputs;

    for (size_t i = 0; i < tx->noutputs; i++) {
        const struct ckb_output *o = &tx->outputs[i];
        outs += 16 + 8 + script_size(&o->lock) + (o->has_type ? script_size(&o->type) : 0);
    }
    raw += outs + bytes_vec_size(tx->outputs_data, tx->noutputs);
    /* Transaction table header (12) + raw + witnesses, then the block's offset entry (4) */
    return 12 + raw + bytes_vec_size(tx->witnesses, tx->nwitnesses) + 4;
}

uint64_t ckb_fee_for_size(uint64_t size, uint64_t rate)
{
    unsigned __int128 f = ((unsigned __int128)size * rate + 999) / 1000;
    return f > UINT64_MAX ? UINT64_MAX : (uint64_t)f;
}

uint64_t ckb_min_fee_for_size(uint64_t size, uint64_t rate)
{
    unsigned __int128 f = (unsigned __int128)size * rate / 1000;
    return f > UINT64_MAX ? UINT64_MAX : (uint64_t)f;
}

/* ---- JSON ---- */

static const char hexdig[] = "0123456789abcdef";

json_t *ckb_json_uint(uint64_t v)
{
    char buf[2 + 16 + 1];
    int n = 0;
    char tmp[16];

    do {
        tmp[n++] = hexdig[v & 15];
        v >>= 4;
    } while (v);
    buf[0] = '0';
    buf[1] = 'x';
    for (int i = 0; i < n; i++)
        buf[2 + i] = tmp[n - 1 - i];
    buf[2 + n] = '\0';
    return json_string(buf);
}

static int lowhex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int ckb_json_parse_uint(const json_t *v, uint64_t max, uint64_t *out)
{
    const char *s;
    size_t len;
    uint64_t x = 0;

    if (!json_is_string(v))
        return -1;
    s = json_string_value(v);
    len = json_string_length(v);
    if (len < 3 || s[0] != '0' || s[1] != 'x')
        return -1;
    /* "0x0" alone, or no leading zero */
    if (s[2] == '0' && len != 3)
        return -1;
    if (len - 2 > 16)
        return -1;
    for (size_t i = 2; i < len; i++) {
        int d = lowhex(s[i]);
        if (d < 0)
            return -1;
        x = x << 4 | (uint64_t)d;
    }
    if (x > max)
        return -1;
    *out = x;
    return 0;
}

/* "0x" + lowercase hex of exactly n bytes (n = SIZE_MAX: any even length, into a new buffer). */
static int parse_hex_exact(const json_t *v, uint8_t *out, size_t n)
{
    const char *s;
    size_t len;

    if (!json_is_string(v))
        return -1;
    s = json_string_value(v);
    len = json_string_length(v);
    if (len != 2 + 2 * n || s[0] != '0' || s[1] != 'x')
        return -1;
    for (size_t i = 0; i < n; i++) {
        int hi = lowhex(s[2 + 2 * i]), lo = lowhex(s[3 + 2 * i]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* JsonBytes into an owned buffer. */
static int parse_json_bytes(const json_t *v, struct ckb_bytes *out)
{
    size_t len, n;
    uint8_t *p = NULL;

    if (!json_is_string(v))
        return -1;
    len = json_string_length(v);
    if (len < 2 || len % 2 != 0)
        return -1;
    n = (len - 2) / 2;
    if (n > 0) {
        p = malloc(n);
        if (p == NULL)
            return -1;
    }
    if (parse_hex_exact(v, p, n) < 0) {
        free(p);
        return -1;
    }
    free(out->p);
    out->p = p;
    out->len = n;
    return 0;
}

json_t *ckb_json_h256(const uint8_t h[32])
{
    return ckb_json_bytes(h, 32);
}

int ckb_json_parse_h256(const json_t *v, uint8_t out[32])
{
    return parse_hex_exact(v, out, 32);
}

json_t *ckb_json_bytes(const uint8_t *p, size_t len)
{
    char *buf;
    json_t *j;

    if (len > (SIZE_MAX - 3) / 2)
        return NULL;
    buf = malloc(2 * len + 3);
    if (buf == NULL)
        return NULL;
    buf[0] = '0';
    buf[1] = 'x';
    for (size_t i = 0; i < len; i++) {
        buf[2 + 2 * i] = hexdig[p[i] >> 4];
        buf[3 + 2 * i] = hexdig[p[i] & 15];
    }
    j = json_stringn(buf, 2 + 2 * len);
    free(buf);
    return j;
}

static const char *hash_type_name(uint8_t t)
{
    switch (t) {
    case CKB_HASH_TYPE_DATA:
        return "data";
    case CKB_HASH_TYPE_TYPE:
        return "type";
    case CKB_HASH_TYPE_DATA1:
        return "data1";
    case CKB_HASH_TYPE_DATA2:
        return "data2";
    default:
        return NULL;
    }
}

static int hash_type_parse(const json_t *v, uint8_t *out)
{
    static const uint8_t codes[] = {CKB_HASH_TYPE_DATA, CKB_HASH_TYPE_TYPE, CKB_HASH_TYPE_DATA1,
                                    CKB_HASH_TYPE_DATA2};
    const char *s = json_string_value(v);

    if (s == NULL)
        return -1;
    for (size_t i = 0; i < sizeof(codes); i++)
        if (strcmp(s, hash_type_name(codes[i])) == 0 &&
            json_string_length(v) == strlen(hash_type_name(codes[i]))) {
            *out = codes[i];
            return 0;
        }
    return -1;
}

/* Builds an object from (key, value) pairs, taking the values' references; NULL when any value is
 * NULL or on ENOMEM. */
static json_t *obj(size_t n, ...)
{
    va_list ap;
    json_t *o = json_object();
    int ok = o != NULL;

    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        const char *k = va_arg(ap, const char *);
        json_t *v = va_arg(ap, json_t *);
        if (v == NULL || !ok || json_object_set_new(o, k, v) < 0) {
            ok = 0;
            json_decref(v);
        }
    }
    va_end(ap);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *ckb_script_to_json(const struct ckb_script *s)
{
    const char *ht = hash_type_name(s->hash_type);

    if (ht == NULL || s->args_len > CKB_SCRIPT_ARGS_MAX)
        return NULL;
    return obj(3, "code_hash", ckb_json_h256(s->code_hash), "hash_type", json_string(ht), "args",
               ckb_json_bytes(s->args, s->args_len));
}

/* 0 when every key of o is one of the n names (NULL-terminated list); else -1 with the first
 * unknown key in *bad. */
static int only_keys(const json_t *o, const char *const *names, const char **bad)
{
    const char *k;
    json_t *v;

    json_object_foreach ((json_t *)o, k, v) {
        size_t i;
        (void)v;
        for (i = 0; names[i] != NULL; i++)
            if (strcmp(k, names[i]) == 0)
                break;
        if (names[i] == NULL) {
            *bad = k;
            return -1;
        }
    }
    return 0;
}

static int script_from_json_at(const json_t *v, struct ckb_script *out, char *err, size_t errsz,
                               const char *what)
{
    static const char *const keys[] = {"code_hash", "hash_type", "args", NULL};
    const char *bad;
    const json_t *args;
    size_t len;

    if (!json_is_object(v)) {
        seterr(err, errsz, "%s: not an object", what);
        return -1;
    }
    if (only_keys(v, keys, &bad) < 0) {
        seterr(err, errsz, "%s.%s: unknown member", what, bad);
        return -1;
    }
    if (ckb_json_parse_h256(json_object_get(v, "code_hash"), out->code_hash) < 0) {
        seterr(err, errsz, "%s.code_hash: not a 32-byte hash", what);
        return -1;
    }
    if (hash_type_parse(json_object_get(v, "hash_type"), &out->hash_type) < 0) {
        seterr(err, errsz, "%s.hash_type: not data, type, data1 or data2", what);
        return -1;
    }
    args = json_object_get(v, "args");
    len = json_is_string(args) ? json_string_length(args) : 0;
    if (len >= 2 && (len - 2) / 2 > CKB_SCRIPT_ARGS_MAX) {
        seterr(err, errsz, "%s.args: longer than %d bytes", what, CKB_SCRIPT_ARGS_MAX);
        return -1;
    }
    if (len < 2 || len % 2 != 0 || parse_hex_exact(args, out->args, (len - 2) / 2) < 0) {
        seterr(err, errsz, "%s.args: not 0x-prefixed lowercase hex bytes", what);
        return -1;
    }
    out->args_len = (len - 2) / 2;
    return 0;
}

int ckb_script_from_json(const json_t *v, struct ckb_script *out, char *err, size_t errsz)
{
    return script_from_json_at(v, out, err, errsz, "script");
}

json_t *ckb_out_point_to_json(const struct ckb_out_point *op)
{
    return obj(2, "tx_hash", ckb_json_h256(op->tx_hash), "index", ckb_json_uint(op->index));
}

int ckb_out_point_from_json(const json_t *v, struct ckb_out_point *out)
{
    static const char *const keys[] = {"tx_hash", "index", NULL};
    const char *bad;
    uint64_t idx;

    if (!json_is_object(v) || only_keys(v, keys, &bad) < 0 ||
        ckb_json_parse_h256(json_object_get(v, "tx_hash"), out->tx_hash) < 0 ||
        ckb_json_parse_uint(json_object_get(v, "index"), UINT32_MAX, &idx) < 0)
        return -1;
    out->index = (uint32_t)idx;
    return 0;
}

/* Appends v to array a, taking its reference; -1 when v is NULL or on ENOMEM. */
static int push(json_t *a, json_t *v)
{
    if (v == NULL)
        return -1;
    return json_array_append_new(a, v);
}

static json_t *output_to_json(const struct ckb_output *o)
{
    json_t *type = o->has_type ? ckb_script_to_json(&o->type) : json_null();
    return obj(3, "capacity", ckb_json_uint(o->capacity), "lock", ckb_script_to_json(&o->lock),
               "type", type);
}

json_t *ckb_tx_to_json(const struct ckb_tx *tx)
{
    json_t *deps = json_array(), *hdeps = json_array(), *ins = json_array(), *outs = json_array(),
           *data = json_array(), *wits = json_array();
    int ok = deps && hdeps && ins && outs && data && wits;

    for (size_t i = 0; ok && i < tx->ncell_deps; i++) {
        const struct ckb_cell_dep *d = &tx->cell_deps[i];
        const char *dt = d->dep_type == CKB_DEP_TYPE_CODE        ? "code"
                         : d->dep_type == CKB_DEP_TYPE_DEP_GROUP ? "dep_group"
                                                                 : NULL;
        ok = dt != NULL && push(deps, obj(2, "out_point", ckb_out_point_to_json(&d->out_point),
                                          "dep_type", json_string(dt))) == 0;
    }
    for (size_t i = 0; ok && i < tx->nheader_deps; i++)
        ok = push(hdeps, ckb_json_h256(tx->header_deps[i])) == 0;
    for (size_t i = 0; ok && i < tx->ninputs; i++)
        ok = push(ins, obj(2, "since", ckb_json_uint(tx->inputs[i].since), "previous_output",
                           ckb_out_point_to_json(&tx->inputs[i].previous_output))) == 0;
    for (size_t i = 0; ok && i < tx->noutputs; i++)
        ok = push(outs, output_to_json(&tx->outputs[i])) == 0 &&
             push(data, ckb_json_bytes(tx->outputs_data[i].p, tx->outputs_data[i].len)) == 0;
    for (size_t i = 0; ok && i < tx->nwitnesses; i++)
        ok = push(wits, ckb_json_bytes(tx->witnesses[i].p, tx->witnesses[i].len)) == 0;
    if (!ok) {
        json_decref(deps);
        json_decref(hdeps);
        json_decref(ins);
        json_decref(outs);
        json_decref(data);
        json_decref(wits);
        return NULL;
    }
    return obj(7, "version", ckb_json_uint(tx->version), "cell_deps", deps, "header_deps", hdeps,
               "inputs", ins, "outputs", outs, "outputs_data", data, "witnesses", wits);
}

/* The array member name of tx JSON v, checked to be an array. */
static const json_t *member_array(const json_t *v, const char *name, char *err, size_t errsz)
{
    const json_t *a = json_object_get(v, name);
    if (!json_is_array(a)) {
        seterr(err, errsz, "%s: not an array", name);
        return NULL;
    }
    return a;
}

static int cell_dep_from_json(const json_t *v, struct ckb_cell_dep *d, char *err, size_t errsz,
                              size_t i)
{
    static const char *const keys[] = {"out_point", "dep_type", NULL};
    const char *bad, *dt;

    if (!json_is_object(v)) {
        seterr(err, errsz, "cell_deps[%zu]: not an object", i);
        return -1;
    }
    if (only_keys(v, keys, &bad) < 0) {
        seterr(err, errsz, "cell_deps[%zu].%s: unknown member", i, bad);
        return -1;
    }
    if (ckb_out_point_from_json(json_object_get(v, "out_point"), &d->out_point) < 0) {
        seterr(err, errsz, "cell_deps[%zu].out_point: not an out point", i);
        return -1;
    }
    dt = json_string_value(json_object_get(v, "dep_type"));
    if (dt != NULL && strcmp(dt, "code") == 0 &&
        json_string_length(json_object_get(v, "dep_type")) == 4)
        d->dep_type = CKB_DEP_TYPE_CODE;
    else if (dt != NULL && strcmp(dt, "dep_group") == 0 &&
             json_string_length(json_object_get(v, "dep_type")) == 9)
        d->dep_type = CKB_DEP_TYPE_DEP_GROUP;
    else {
        seterr(err, errsz, "cell_deps[%zu].dep_type: not code or dep_group", i);
        return -1;
    }
    return 0;
}

static int input_from_json(const json_t *v, struct ckb_input *in, char *err, size_t errsz, size_t i)
{
    static const char *const keys[] = {"since", "previous_output", NULL};
    const char *bad;

    if (!json_is_object(v)) {
        seterr(err, errsz, "inputs[%zu]: not an object", i);
        return -1;
    }
    if (only_keys(v, keys, &bad) < 0) {
        seterr(err, errsz, "inputs[%zu].%s: unknown member", i, bad);
        return -1;
    }
    if (ckb_json_parse_uint(json_object_get(v, "since"), UINT64_MAX, &in->since) < 0) {
        seterr(err, errsz, "inputs[%zu].since: not a Uint64", i);
        return -1;
    }
    if (ckb_out_point_from_json(json_object_get(v, "previous_output"), &in->previous_output) < 0) {
        seterr(err, errsz, "inputs[%zu].previous_output: not an out point", i);
        return -1;
    }
    return 0;
}

static int output_from_json(const json_t *v, struct ckb_output *o, char *err, size_t errsz,
                            size_t i)
{
    static const char *const keys[] = {"capacity", "lock", "type", NULL};
    const char *bad;
    const json_t *type;
    char what[48];

    if (!json_is_object(v)) {
        seterr(err, errsz, "outputs[%zu]: not an object", i);
        return -1;
    }
    if (only_keys(v, keys, &bad) < 0) {
        seterr(err, errsz, "outputs[%zu].%s: unknown member", i, bad);
        return -1;
    }
    if (ckb_json_parse_uint(json_object_get(v, "capacity"), UINT64_MAX, &o->capacity) < 0) {
        seterr(err, errsz, "outputs[%zu].capacity: not a Uint64", i);
        return -1;
    }
    snprintf(what, sizeof(what), "outputs[%zu].lock", i);
    if (script_from_json_at(json_object_get(v, "lock"), &o->lock, err, errsz, what) < 0)
        return -1;
    /* the node writes "type": null; an absent member is None to it as well */
    type = json_object_get(v, "type");
    o->has_type = type != NULL && !json_is_null(type);
    if (o->has_type) {
        snprintf(what, sizeof(what), "outputs[%zu].type", i);
        if (script_from_json_at(type, &o->type, err, errsz, what) < 0)
            return -1;
    }
    return 0;
}

/* A JSON array of JsonBytes into a new array of owned Bytes; *nout counts what was allocated. */
static int bytes_array_from_json(const json_t *a, struct ckb_bytes **out, size_t *nout,
                                 const char *what, char *err, size_t errsz)
{
    size_t n = json_array_size(a);

    *out = NULL;
    *nout = 0;
    if (grow(out, 0, n, sizeof(**out)) < 0) {
        seterr(err, errsz, "%s: out of memory", what);
        return -1;
    }
    *nout = n;
    for (size_t i = 0; i < n; i++)
        if (parse_json_bytes(json_array_get(a, i), &(*out)[i]) < 0) {
            seterr(err, errsz, "%s[%zu]: not 0x-prefixed lowercase hex bytes", what, i);
            return -1;
        }
    return 0;
}

int ckb_tx_from_json(const json_t *v, struct ckb_tx *tx, char *err, size_t errsz)
{
    static const char *const keys[] = {"version",   "cell_deps", "header_deps",
                                       "inputs",    "outputs",   "outputs_data",
                                       "witnesses", "hash",      NULL};
    const json_t *deps, *hdeps, *ins, *outs, *data, *wits;
    struct ckb_bytes *dv = NULL;
    size_t ndv = 0;
    const char *bad;
    uint64_t version;

    ckb_tx_init(tx);
    if (!json_is_object(v)) {
        seterr(err, errsz, "transaction: not an object");
        return -1;
    }
    if (only_keys(v, keys, &bad) < 0) {
        seterr(err, errsz, "%s: unknown member", bad);
        return -1;
    }
    if (ckb_json_parse_uint(json_object_get(v, "version"), UINT32_MAX, &version) < 0) {
        seterr(err, errsz, "version: not a Uint32");
        return -1;
    }
    tx->version = (uint32_t)version;
    if ((deps = member_array(v, "cell_deps", err, errsz)) == NULL ||
        (hdeps = member_array(v, "header_deps", err, errsz)) == NULL ||
        (ins = member_array(v, "inputs", err, errsz)) == NULL ||
        (outs = member_array(v, "outputs", err, errsz)) == NULL ||
        (data = member_array(v, "outputs_data", err, errsz)) == NULL ||
        (wits = member_array(v, "witnesses", err, errsz)) == NULL)
        goto fail;

    if (grow(&tx->cell_deps, 0, json_array_size(deps), sizeof(*tx->cell_deps)) < 0)
        goto nomem;
    tx->ncell_deps = json_array_size(deps);
    for (size_t i = 0; i < tx->ncell_deps; i++)
        if (cell_dep_from_json(json_array_get(deps, i), &tx->cell_deps[i], err, errsz, i) < 0)
            goto fail;

    if (grow(&tx->header_deps, 0, json_array_size(hdeps), sizeof(*tx->header_deps)) < 0)
        goto nomem;
    tx->nheader_deps = json_array_size(hdeps);
    for (size_t i = 0; i < tx->nheader_deps; i++)
        if (ckb_json_parse_h256(json_array_get(hdeps, i), tx->header_deps[i]) < 0) {
            seterr(err, errsz, "header_deps[%zu]: not a 32-byte hash", i);
            goto fail;
        }

    if (grow(&tx->inputs, 0, json_array_size(ins), sizeof(*tx->inputs)) < 0)
        goto nomem;
    tx->ninputs = json_array_size(ins);
    for (size_t i = 0; i < tx->ninputs; i++)
        if (input_from_json(json_array_get(ins, i), &tx->inputs[i], err, errsz, i) < 0)
            goto fail;

    if (json_array_size(data) != json_array_size(outs)) {
        /* the node would decode this and fail it later; this struct pairs them */
        seterr(err, errsz, "outputs_data: %zu entries for %zu outputs", json_array_size(data),
               json_array_size(outs));
        goto fail;
    }
    if (grow(&tx->outputs, 0, json_array_size(outs), sizeof(*tx->outputs)) < 0)
        goto nomem;
    for (size_t i = 0; i < json_array_size(outs); i++)
        if (output_from_json(json_array_get(outs, i), &tx->outputs[i], err, errsz, i) < 0)
            goto fail;
    if (bytes_array_from_json(data, &dv, &ndv, "outputs_data", err, errsz) < 0) {
        for (size_t i = 0; i < ndv; i++)
            free(dv[i].p);
        free(dv);
        goto fail;
    }
    tx->outputs_data = dv;
    tx->noutputs = ndv;

    if (bytes_array_from_json(wits, &tx->witnesses, &tx->nwitnesses, "witnesses", err, errsz) < 0)
        goto fail;
    return 0;

nomem:
    seterr(err, errsz, "out of memory");
fail:
    ckb_tx_free(tx);
    return -1;
}
