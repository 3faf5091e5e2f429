/* Daemon settings from defaults, a `key = value` file and FIBERLINK_* environment variables. One
 * table lists every key with its kind and range, so the file, the environment and the error
 * messages all agree on names. Values of secret keys are never repeated in messages, because
 * those messages end up in logs and terminals. */
#include "core/config.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/policy.h"

#define CONFIG_ENV_PREFIX "FIBERLINK_"
#define CONFIG_MAX_FILE_BYTES (1024 * 1024)

enum config_kind {
    CONFIG_KIND_STRING,   /* any non-empty string */
    CONFIG_KIND_OPTIONAL, /* string; empty clears it (NULL) */
    CONFIG_KIND_URL,      /* http:// or https:// URL */
    CONFIG_KIND_INT,      /* decimal int in [min, max] */
    CONFIG_KIND_SIZE,     /* decimal size_t in [min, max] */
    CONFIG_KIND_LISTEN,   /* comma-separated host:port list */
    CONFIG_KIND_CURRENCY, /* Fibb | Fibt | Fibd */
    CONFIG_KIND_LOG_LEVEL,
    CONFIG_KIND_NONCE_STORE,
    CONFIG_KIND_KEY32, /* optional: exactly 64 hex digits (32 bytes); empty clears it */
};

struct config_key {
    const char *name;
    enum config_kind kind;
    size_t offset;
    long long min, max;
    int secret; /* never echo the value */
};

#define STR_KEY(n, k, s)                                                                           \
    {                                                                                              \
#n, k, offsetof(struct config, n), 0, 0, s                                                 \
    }
#define INT_KEY(n, lo, hi)                                                                         \
    {                                                                                              \
#n, CONFIG_KIND_INT, offsetof(struct config, n), lo, hi, 0                                 \
    }

static const struct config_key keys[] = {
    {"listen", CONFIG_KIND_LISTEN, 0, 0, 0, 0},
    STR_KEY(tls_cert, CONFIG_KIND_OPTIONAL, 0),
    STR_KEY(tls_key, CONFIG_KIND_OPTIONAL, 0),
    /* a libpq URL may carry a password */
    STR_KEY(database_url, CONFIG_KIND_STRING, 1),
    INT_KEY(db_pool_size, 1, 64),
    INT_KEY(db_query_timeout_ms, 100, 600000),
    STR_KEY(fnn_rpc_url, CONFIG_KIND_URL, 0),
    STR_KEY(fnn_rpc_token, CONFIG_KIND_OPTIONAL, 1),
    INT_KEY(fnn_timeout_ms, 100, 600000),
    INT_KEY(fnn_max_connections, 1, 1024),
    INT_KEY(fnn_max_inflight, 1, 1000000),
    INT_KEY(db_max_pending, 1, 1000000),
    INT_KEY(app_lookup_rate, 1, 100000),
    STR_KEY(fnn_currency, CONFIG_KIND_CURRENCY, 0),
    STR_KEY(preimage_key, CONFIG_KIND_OPTIONAL, 1),
    /* core/seal.h: app and webhook secrets are stored sealed with this key */
    STR_KEY(secrets_key, CONFIG_KIND_KEY32, 1),
    STR_KEY(secrets_key_previous, CONFIG_KIND_KEY32, 1),
    INT_KEY(invoice_expiry, 60, 2592000),
    {"max_body_bytes", CONFIG_KIND_SIZE, offsetof(struct config, max_body_bytes), 1024, 16777216,
     0},
    INT_KEY(rate_limit, 1, 1000000000),
    INT_KEY(rate_limit_window, 1, 86400),
    INT_KEY(admin_login_failures, 1, 1000000),
    INT_KEY(admin_login_window, 1, 86400),
    STR_KEY(usdi_udt_type_script_json, CONFIG_KIND_OPTIONAL, 0),
    INT_KEY(usdi_decimals, 0, 18),
    STR_KEY(log_level, CONFIG_KIND_LOG_LEVEL, 0),
    STR_KEY(nonce_store, CONFIG_KIND_NONCE_STORE, 0),
    INT_KEY(shutdown_timeout_ms, 0, 600000),
    INT_KEY(tip_status_timeout_ms, 100, 60000),
    INT_KEY(max_connections, 1, 1000000),
    INT_KEY(http1_request_timeout_ms, 100, 3600000),
    INT_KEY(http2_idle_timeout_ms, 100, 3600000),
    INT_KEY(handshake_timeout_ms, 100, 3600000),
    INT_KEY(http2_max_concurrent_streams, 1, 1000),
    INT_KEY(max_abandoned_requests, 0, 1000000),
    INT_KEY(nonce_memory_max, 1000, 100000000),
    INT_KEY(poll_interval_ms, 10, 60000),
    INT_KEY(poll_min_delay_ms, 100, 600000),
    INT_KEY(poll_max_delay_ms, 100, 3600000),
    INT_KEY(poll_batch, 1, 10000),
    INT_KEY(poll_max_inflight, 1, 1024),
    INT_KEY(poll_lease_ms, 1000, 600000),
    STR_KEY(withdraw_assets, CONFIG_KIND_STRING, 0),
    STR_KEY(withdraw_min, CONFIG_KIND_STRING, 0),
    STR_KEY(withdraw_max_per_request, CONFIG_KIND_STRING, 0),
    STR_KEY(withdraw_user_daily, CONFIG_KIND_STRING, 0),
    STR_KEY(withdraw_app_daily, CONFIG_KIND_STRING, 0),
    INT_KEY(withdraw_cooldown_seconds, 0, POLICY_COOLDOWN_MAX),
    STR_KEY(withdraw_max_fee, CONFIG_KIND_STRING, 0),
    INT_KEY(withdraw_max_fee_ppm, 0, 1000000),
    INT_KEY(withdraw_retry_budget, 0, 1000),
    INT_KEY(withdraw_retry_base_ms, 10, 3600000),
    INT_KEY(withdraw_retry_max_ms, 10, 86400000),
    INT_KEY(withdraw_interval_ms, 10, 60000),
    INT_KEY(withdraw_batch, 1, 10000),
    INT_KEY(withdraw_lease_ms, 1000, 3600000),
    INT_KEY(withdraw_payment_poll_ms, 10, 60000),
    STR_KEY(ckb_rpc_url, CONFIG_KIND_OPTIONAL, 0),
    STR_KEY(ckb_network, CONFIG_KIND_STRING, 0),
    STR_KEY(ckb_hot_wallet_key_file, CONFIG_KIND_OPTIONAL, 0),
    INT_KEY(ckb_fee_rate, 1000, 100000000),
    INT_KEY(ckb_confirmations, 1, 10000),
    INT_KEY(ckb_batch_interval_ms, 10, 3600000),
    INT_KEY(ckb_batch_max, 1, 1000),
    INT_KEY(ckb_timeout_ms, 100, 600000),
    INT_KEY(ckb_poll_ms, 10, 600000),
    INT_KEY(ckb_lease_ms, 1000, 3600000),
};

static const struct config_key *key_find(const char *name)
{
    for (size_t i = 0; i < FL_ARRAY_LEN(keys); i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

static char **str_field(struct config *c, const struct config_key *k)
{
    return (char **)((char *)c + k->offset);
}

static void set_err(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errsz, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errsz == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
}

static void replace_str(char **slot, const char *value)
{
    free(*slot);
    *slot = value != NULL ? xstrdup(value) : NULL;
}

static void listen_clear(struct config *c)
{
    for (int i = 0; i < c->nlisten; i++) {
        free(c->listen[i]);
        c->listen[i] = NULL;
    }
    c->nlisten = 0;
}

void config_init(struct config *c)
{
    memset(c, 0, sizeof(*c));
    c->listen[0] = xstrdup("127.0.0.1:3000");
    c->nlisten = 1;
    c->database_url = xstrdup("postgresql:///fiberlink");
    c->db_pool_size = 4;
    c->db_query_timeout_ms = 5000;
    c->fnn_rpc_url = xstrdup("http://127.0.0.1:8227");
    c->fnn_timeout_ms = 5000;
    c->fnn_max_connections = 64;
    c->fnn_max_inflight = 256;
    c->db_max_pending = 4096;
    c->app_lookup_rate = 50;
    c->fnn_currency = xstrdup("Fibt");
    c->invoice_expiry = 3600;
    c->max_body_bytes = 65536;
    c->rate_limit = 300;
    c->rate_limit_window = 60;
    c->admin_login_failures = 10;
    c->admin_login_window = 60;
    c->usdi_decimals = 6;
    c->log_level = xstrdup("info");
    c->nonce_store = xstrdup("memory");
    c->shutdown_timeout_ms = 10000;
    c->tip_status_timeout_ms = 2000;
    c->max_connections = 16384;
    c->http1_request_timeout_ms = 10000;
    c->http2_idle_timeout_ms = 10000;
    c->handshake_timeout_ms = 10000;
    c->http2_max_concurrent_streams = 100;
    c->max_abandoned_requests = 100;
    c->nonce_memory_max = 1000000;
    c->poll_interval_ms = 250;
    c->poll_min_delay_ms = 1000;
    c->poll_max_delay_ms = 30000;
    c->poll_batch = 200;
    c->poll_max_inflight = 32;
    c->poll_lease_ms = 30000;
    c->withdraw_assets = xstrdup("CKB,USDI");
    c->withdraw_min = xstrdup("1");
    c->withdraw_max_per_request = xstrdup("100000");
    c->withdraw_user_daily = xstrdup("1000000");
    c->withdraw_app_daily = xstrdup("100000000");
    c->withdraw_cooldown_seconds = 0;
    c->withdraw_max_fee = xstrdup("1");
    c->withdraw_max_fee_ppm = 5000;
    c->withdraw_retry_budget = 5;
    c->withdraw_retry_base_ms = 2000;
    c->withdraw_retry_max_ms = 300000;
    c->withdraw_interval_ms = 500;
    c->withdraw_batch = 50;
    c->withdraw_lease_ms = 60000;
    c->withdraw_payment_poll_ms = 500;
    c->ckb_network = xstrdup("testnet");
    c->ckb_fee_rate = 1000;
    c->ckb_confirmations = 24;
    c->ckb_batch_interval_ms = 2000;
    c->ckb_batch_max = 100;
    c->ckb_timeout_ms = 5000;
    c->ckb_poll_ms = 1000;
    c->ckb_lease_ms = 60000;
}

void config_dispose(struct config *c)
{
    listen_clear(c);
    for (size_t i = 0; i < FL_ARRAY_LEN(keys); i++) {
        const struct config_key *k = &keys[i];
        if (k->kind != CONFIG_KIND_INT && k->kind != CONFIG_KIND_SIZE &&
            k->kind != CONFIG_KIND_LISTEN) {
            char **slot = str_field(c, k);
            if (k->secret && *slot != NULL)
                memset(*slot, 0, strlen(*slot));
            free(*slot);
            *slot = NULL;
        }
    }
}

/* Strict decimal: digits only, no sign, no spaces, within [min, max]. */
static int parse_decimal(const char *s, long long min, long long max, long long *out)
{
    long long v = 0;

    if (*s == '\0')
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        if (v > (max - (*s - '0')) / 10)
            return -1; /* beyond max already, and no overflow past it */
        v = v * 10 + (*s - '0');
    }
    if (v < min)
        return -1;
    *out = v;
    return 0;
}

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\v' || ch == '\f';
}

/* Checks one "host:port" (host may be a bracketed IPv6 literal); 0 or -1. */
static int listen_item_ok(const char *s, size_t len)
{
    size_t colon = len, hostlen;
    long long port = 0;
    char portbuf[8];

    for (size_t i = 0; i < len; i++) {
        if (is_space(s[i]) || s[i] == ',')
            return -1;
        if (s[i] == ':')
            colon = i;
    }
    if (colon == len || colon == 0)
        return -1;
    hostlen = colon;
    if (s[0] == '[') {
        if (hostlen < 3 || s[hostlen - 1] != ']')
            return -1;
    } else if (memchr(s, ':', hostlen) != NULL || memchr(s, '[', hostlen) != NULL ||
               memchr(s, ']', hostlen) != NULL) {
        return -1; /* an IPv6 literal must be bracketed */
    }
    if (len - colon - 1 == 0 || len - colon - 1 >= sizeof(portbuf))
        return -1;
    memcpy(portbuf, s + colon + 1, len - colon - 1);
    portbuf[len - colon - 1] = '\0';
    return parse_decimal(portbuf, 1, 65535, &port);
}

/* Replaces c->listen with the parsed list; on error c is unchanged. */
static int set_listen(struct config *c, const char *value)
{
    char *items[CONFIG_MAX_LISTEN];
    int n = 0;
    const char *p = value;

    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        /* Spaces after commas ("a:1, b:2") are forgiven; anything else must be exact. */
        while (len > 0 && is_space(*p)) {
            p++;
            len--;
        }
        while (len > 0 && is_space(p[len - 1]))
            len--;
        if (n == CONFIG_MAX_LISTEN || listen_item_ok(p, len) < 0)
            goto fail;
        items[n++] = xstrndup(p, len);
        if (end == NULL)
            break;
        p = end + 1;
    }
    listen_clear(c);
    for (int i = 0; i < n; i++)
        c->listen[i] = items[i];
    c->nlisten = n;
    return 0;

fail:
    while (n > 0)
        free(items[--n]);
    return -1;
}

/* 1 when s is hex digits only (either case), ndigits_min..ndigits_max of them (an even number
 * when asked). */
static int is_hex_digits(const char *s, size_t ndigits_min, size_t ndigits_max, int even)
{
    size_t n = strlen(s);

    if (n < ndigits_min || n > ndigits_max || (even && n % 2 != 0))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F')))
            return 0;
    }
    return 1;
}

/* Applies value to key k. Returns 0, or -1 after writing into why what the value must be. */
static int apply(struct config *c, const struct config_key *k, const char *value, char *why,
                 size_t whysz)
{
    long long n;
    enum log_level lvl;

    switch (k->kind) {
    case CONFIG_KIND_STRING:
        if (*value == '\0')
            goto empty;
        replace_str(str_field(c, k), value);
        return 0;
    case CONFIG_KIND_OPTIONAL:
        replace_str(str_field(c, k), *value != '\0' ? value : NULL);
        return 0;
    case CONFIG_KIND_URL:
        if (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0) {
            snprintf(why, whysz, "must be an http:// or https:// URL");
            return -1;
        }
        replace_str(str_field(c, k), value);
        return 0;
    case CONFIG_KIND_INT:
    case CONFIG_KIND_SIZE:
        if (parse_decimal(value, k->min, k->max, &n) < 0) {
            snprintf(why, whysz, "must be an integer from %lld to %lld", k->min, k->max);
            return -1;
        }
        if (k->kind == CONFIG_KIND_INT)
            *(int *)((char *)c + k->offset) = (int)n;
        else
            *(size_t *)((char *)c + k->offset) = (size_t)n;
        return 0;
    case CONFIG_KIND_LISTEN:
        if (set_listen(c, value) < 0) {
            snprintf(why, whysz, "must be a comma-separated list of 1 to %d host:port addresses",
                     CONFIG_MAX_LISTEN);
            return -1;
        }
        return 0;
    case CONFIG_KIND_CURRENCY:
        if (strcmp(value, "Fibb") != 0 && strcmp(value, "Fibt") != 0 &&
            strcmp(value, "Fibd") != 0) {
            snprintf(why, whysz, "must be Fibb, Fibt or Fibd");
            return -1;
        }
        replace_str(str_field(c, k), value);
        return 0;
    case CONFIG_KIND_LOG_LEVEL:
        if (log_level_parse(value, &lvl) < 0) {
            snprintf(why, whysz, "must be debug, info, warn or error");
            return -1;
        }
        replace_str(str_field(c, k), value);
        return 0;
    case CONFIG_KIND_KEY32:
        if (*value != '\0' && !is_hex_digits(value, 64, 64, 1)) {
            snprintf(why, whysz, "must be exactly 64 hex digits (32 bytes)");
            return -1;
        }
        replace_str(str_field(c, k), *value != '\0' ? value : NULL);
        return 0;
    case CONFIG_KIND_NONCE_STORE:
        if (strcmp(value, "memory") != 0 && strcmp(value, "postgres") != 0) {
            snprintf(why, whysz, "must be memory or postgres");
            return -1;
        }
        replace_str(str_field(c, k), value);
        return 0;
    }
    snprintf(why, whysz, "is not supported");
    return -1;

empty:
    snprintf(why, whysz, "must not be empty");
    return -1;
}

/* Applies one setting and describes a bad value; unknown keys return -2 with err untouched, so
 * each caller can name the key in its own terms (file line, environment variable). */
static int set_one(struct config *c, const char *key, const char *value, char *err, size_t errsz)
{
    const struct config_key *k = key_find(key);
    char why[96];

    if (k == NULL)
        return -2;
    if (value == NULL)
        value = "";
    if (apply(c, k, value, why, sizeof(why)) == 0)
        return 0;
    if (k->secret)
        set_err(err, errsz, "invalid value for %s: %s", key, why);
    else
        set_err(err, errsz, "invalid value '%.64s%s' for %s: %s", value,
                strlen(value) > 64 ? "..." : "", key, why);
    return -1;
}

int config_set(struct config *c, const char *key, const char *value, char *err, size_t errsz)
{
    int rc = set_one(c, key, value, err, errsz);

    if (rc == -2)
        set_err(err, errsz, "unknown setting '%.64s'", key);
    return rc < 0 ? -1 : 0;
}

/* Trims spaces from both ends of [*s, *s + *len). */
static void trim(const char **s, size_t *len)
{
    while (*len > 0 && is_space(**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && is_space((*s)[*len - 1]))
        (*len)--;
}

/* Parses one non-blank, non-comment line into fresh key and value strings. A value in matching
 * single or double quotes keeps its inner text exactly (spaces, '#'); after the closing quote
 * only spaces or a '#' comment may follow. An unquoted value is the rest of the line, trimmed:
 * '#' inside it is part of the value, since URLs and secrets may contain it. */
static int parse_line(const char *line, size_t len, char **key, char **value, const char **why)
{
    const char *eq = memchr(line, '=', len);
    const char *k = line, *v;
    size_t klen, vlen;

    if (eq == NULL) {
        *why = "expected 'key = value'";
        return -1;
    }
    klen = (size_t)(eq - line);
    trim(&k, &klen);
    if (klen == 0) {
        *why = "missing key before '='";
        return -1;
    }
    v = eq + 1;
    vlen = len - (size_t)(v - line);
    trim(&v, &vlen);
    if (vlen > 0 && (v[0] == '"' || v[0] == '\'')) {
        const char *close = memchr(v + 1, v[0], vlen - 1);
        const char *rest;
        size_t restlen;
        if (close == NULL) {
            *why = "unterminated quoted value";
            return -1;
        }
        rest = close + 1;
        restlen = vlen - (size_t)(rest - v);
        trim(&rest, &restlen);
        if (restlen > 0 && rest[0] != '#') {
            *why = "unexpected text after quoted value";
            return -1;
        }
        v++;
        vlen = (size_t)(close - v);
    }
    *key = xstrndup(k, klen);
    *value = xstrndup(v, vlen);
    return 0;
}

int config_load_buffer(struct config *c, const char *buf, size_t len, const char *source_name,
                       char *err, size_t errsz)
{
    size_t pos = 0;
    unsigned lineno = 0;

    while (pos < len) {
        const char *line = buf + pos, *nl = memchr(line, '\n', len - pos);
        size_t linelen = nl != NULL ? (size_t)(nl - line) : len - pos;
        const char *t = line, *why = NULL;
        size_t tlen = linelen;
        char *key = NULL, *value = NULL;
        char msg[256];
        int rc;

        pos += linelen + (nl != NULL);
        lineno++;
        if (memchr(line, '\0', linelen) != NULL) {
            set_err(err, errsz, "NUL byte in %s line %u", source_name, lineno);
            return -1;
        }
        trim(&t, &tlen);
        if (tlen == 0 || t[0] == '#')
            continue;
        if (parse_line(t, tlen, &key, &value, &why) < 0) {
            set_err(err, errsz, "%s in %s line %u", why, source_name, lineno);
            return -1;
        }
        rc = set_one(c, key, value, msg, sizeof(msg));
        if (rc == -2)
            set_err(err, errsz, "unknown setting '%.64s' in %s line %u", key, source_name, lineno);
        else if (rc < 0)
            set_err(err, errsz, "%s in %s line %u", msg, source_name, lineno);
        if (value != NULL)
            memset(value, 0, strlen(value)); /* it may have been a secret */
        free(key);
        free(value);
        if (rc < 0)
            return -1;
    }
    return 0;
}

int config_load_file(struct config *c, const char *path, char *err, size_t errsz)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0;
    int rc = -1;

    if (f == NULL) {
        set_err(err, errsz, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    buf = xmalloc(CONFIG_MAX_FILE_BYTES + 1);
    len = fread(buf, 1, CONFIG_MAX_FILE_BYTES + 1, f);
    if (ferror(f)) {
        set_err(err, errsz, "cannot read %s: %s", path, strerror(errno));
        goto fail;
    }
    if (len > CONFIG_MAX_FILE_BYTES) {
        set_err(err, errsz, "%s is larger than %d bytes", path, CONFIG_MAX_FILE_BYTES);
        goto fail;
    }
    rc = config_load_buffer(c, buf, len, path, err, errsz);

fail:
    memset(buf, 0, len); /* the file may hold the preimage key */
    free(buf);
    fclose(f);
    return rc;
}

int config_load_env(struct config *c, char **envp, char *err, size_t errsz)
{
    const size_t plen = sizeof(CONFIG_ENV_PREFIX) - 1;

    for (; envp != NULL && *envp != NULL; envp++) {
        const char *e = *envp, *eq = strchr(e, '=');
        char key[64], msg[256];
        size_t nlen;
        int rc;

        if (eq == NULL || strncmp(e, CONFIG_ENV_PREFIX, plen) != 0)
            continue;
        nlen = (size_t)(eq - e) - plen;
        /* Only the exact upper-case spelling of a key is accepted. */
        rc = -2;
        if (nlen > 0 && nlen < sizeof(key)) {
            size_t i;
            for (i = 0; i < nlen; i++) {
                char ch = e[plen + i];
                if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_'))
                    break;
                key[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
            }
            key[i] = '\0';
            if (i == nlen)
                rc = set_one(c, key, eq + 1, msg, sizeof(msg));
        }
        if (rc == -2) {
            set_err(err, errsz, "unknown environment variable %.*s",
                    (int)(eq - e > 80 ? 80 : eq - e), e);
            return -1;
        }
        if (rc < 0) {
            set_err(err, errsz, "%s (from %.*s)", msg, (int)(eq - e), e);
            return -1;
        }
    }
    return 0;
}

static int is_hex_string(const char *s, size_t ndigits_min, size_t ndigits_max, int even)
{
    return strncmp(s, "0x", 2) == 0 && is_hex_digits(s + 2, ndigits_min, ndigits_max, even);
}

/* Checks the USDI type script: {"code_hash": 0x+64 hex, "hash_type": type|data|data1|data2,
 * "args": 0x + even hex}. Returns NULL or what is wrong. */
static const char *udt_script_problem(const char *text)
{
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr), *v;
    const char *problem = NULL, *ht;

    if (!json_is_object(root)) {
        problem = "must be a JSON object";
        goto done;
    }
    v = json_object_get(root, "code_hash");
    if (!json_is_string(v) || !is_hex_string(json_string_value(v), 64, 64, 1)) {
        problem = "code_hash must be 0x followed by 64 hex digits";
        goto done;
    }
    v = json_object_get(root, "hash_type");
    ht = json_is_string(v) ? json_string_value(v) : "";
    if (strcmp(ht, "type") != 0 && strcmp(ht, "data") != 0 && strcmp(ht, "data1") != 0 &&
        strcmp(ht, "data2") != 0) {
        problem = "hash_type must be type, data, data1 or data2";
        goto done;
    }
    v = json_object_get(root, "args");
    if (!json_is_string(v) || !is_hex_string(json_string_value(v), 0, SIZE_MAX, 1)) {
        problem = "args must be 0x followed by an even number of hex digits";
        goto done;
    }

done:
    json_decref(root);
    return problem;
}

int config_onchain_enabled(const struct config *c)
{
    return c->ckb_rpc_url != NULL && c->ckb_rpc_url[0] != '\0' &&
           c->ckb_hot_wallet_key_file != NULL && c->ckb_hot_wallet_key_file[0] != '\0';
}

int config_validate_serve(const struct config *c, char *err, size_t errsz)
{
    const char *problem;

    if (c->preimage_key == NULL) {
        set_err(err, errsz, "preimage_key is required (set FIBERLINK_PREIMAGE_KEY)");
        return -1;
    }
    if (strlen(c->preimage_key) < 16) {
        set_err(err, errsz, "preimage_key must be at least 16 bytes long");
        return -1;
    }
    if (c->poll_min_delay_ms > c->poll_max_delay_ms) {
        set_err(err, errsz, "poll_min_delay_ms (%d) must not exceed poll_max_delay_ms (%d)",
                c->poll_min_delay_ms, c->poll_max_delay_ms);
        return -1;
    }
    if ((c->tls_cert == NULL) != (c->tls_key == NULL)) {
        set_err(err, errsz, "tls_cert and tls_key must be set together");
        return -1;
    }
    if (c->nlisten < 1) {
        set_err(err, errsz, "listen must name at least one address");
        return -1;
    }
    if (strcmp(c->ckb_network, "mainnet") != 0 && strcmp(c->ckb_network, "testnet") != 0 &&
        strcmp(c->ckb_network, "devnet") != 0) {
        set_err(err, errsz, "ckb_network: must be mainnet, testnet or devnet");
        return -1;
    }
    if (c->ckb_rpc_url != NULL && strncmp(c->ckb_rpc_url, "http://", 7) != 0 &&
        strncmp(c->ckb_rpc_url, "https://", 8) != 0) {
        set_err(err, errsz, "ckb_rpc_url: must be an http:// or https:// URL");
        return -1;
    }
    if (c->usdi_udt_type_script_json != NULL &&
        (problem = udt_script_problem(c->usdi_udt_type_script_json)) != NULL) {
        set_err(err, errsz, "usdi_udt_type_script_json: %s", problem);
        return -1;
    }
    return 0;
}
