/* Unit tests for core/fnn.c: the pure decoders and error classification on fnn-rpc.md's examples
 * and malformed answers, and the asynchronous client end to end against a small HTTP responder
 * that lives on the same libev loop (answers chosen by the JSON-RPC method the client sends). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/fnn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/loop.h"
#include "core/mem.h"

#define HASH_A "0xafb6e58a2a4d2e5cc3df7bb4cf5a2b0c6eac4b7a0d14e9c5e3a9f7c1d7c95432"

static json_t *parse(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &e);
    if (j == NULL)
        fail_msg("bad test JSON: %s", e.text);
    return j;
}

/* ---- decoders ---- */

static void test_invoice_decode_new_invoice(void **state)
{
    json_t *r = parse(
        "{\"invoice_address\":\"fibt1000000001pexample\",\"invoice\":{\"currency\":\"Fibt\","
        "\"amount\":\"0x5f5e100\",\"signature\":\"0e1b\",\"data\":{\"timestamp\":\"0x1958944fa64\","
        "\"payment_hash\":\"" HASH_A "\",\"attrs\":[{\"description\":\"tip\"},{\"expiry_time\":"
        "\"0xe10\"},{\"hash_algorithm\":\"sha256\"},{\"payee_public_key\":\"0291a6\"}]}}}");
    struct fnn_invoice inv;
    char err[128];
    assert_int_equal(fnn_invoice_decode(r, &inv, err, sizeof err), 0);
    assert_string_equal(inv.invoice_address, "fibt1000000001pexample");
    assert_string_equal(inv.currency, "Fibt");
    assert_true(inv.has_amount);
    assert_int_equal(inv.amount, 100000000);
    assert_string_equal(inv.payment_hash, HASH_A);
    assert_int_equal(inv.timestamp_ms, 0x1958944fa64ULL);
    assert_true(inv.has_expiry);
    assert_int_equal(inv.expiry_s, 3600);
    assert_int_equal(inv.status, FNN_INV_UNKNOWN);
    json_decref(r);
}

static void test_invoice_decode_pascal_and_status(void **state)
{
    /* Older nodes: PascalCase attrs, ExpiryTime as a Duration; hash without 0x, upper case;
     * parse_invoice has no invoice_address; amount null. */
    json_t *r = parse("{\"invoice\":{\"currency\":\"Fibb\",\"amount\":null,\"signature\":null,"
                      "\"data\":{\"timestamp\":\"0x0\",\"payment_hash\":"
                      "\"AFB6E58A2A4D2E5CC3DF7BB4CF5A2B0C6EAC4B7A0D14E9C5E3A9F7C1D7C95432\","
                      "\"attrs\":[{\"Description\":\"x\"},{\"ExpiryTime\":{\"secs\":600,"
                      "\"nanos\":0}},{\"HashAlgorithm\":\"Sha256\"}]}},\"status\":\"Paid\"}");
    struct fnn_invoice inv;
    char err[128];
    assert_int_equal(fnn_invoice_decode(r, &inv, err, sizeof err), 0);
    assert_null(inv.invoice_address);
    assert_false(inv.has_amount);
    assert_string_equal(inv.payment_hash, HASH_A);
    assert_true(inv.has_expiry);
    assert_int_equal(inv.expiry_s, 600);
    assert_int_equal(inv.status, FNN_INV_PAID);
    json_decref(r);
}

static void test_invoice_decode_no_expiry(void **state)
{
    json_t *r =
        parse("{\"invoice_address\":\"fibt1x\",\"invoice\":{\"currency\":\"Fibd\","
              "\"amount\":\"0x1\",\"data\":{\"timestamp\":\"0x10\",\"payment_hash\":\"" HASH_A
              "\",\"attrs\":[]}},\"status\":\"Received\"}");
    struct fnn_invoice inv;
    char err[128];
    assert_int_equal(fnn_invoice_decode(r, &inv, err, sizeof err), 0);
    assert_false(inv.has_expiry);
    assert_int_equal(inv.status, FNN_INV_RECEIVED);
    json_decref(r);
}

static void test_invoice_decode_malformed(void **state)
{
    static const char *const bad[] = {
        "[]",
        "{}",
        "{\"invoice\":[]}",
        /* unknown currency */
        "{\"invoice\":{\"currency\":\"Btc\",\"data\":{\"timestamp\":\"0x1\",\"payment_hash\":"
        "\"" HASH_A "\"}}}",
        /* leading zero amount */
        "{\"invoice\":{\"currency\":\"Fibt\",\"amount\":\"0x01\",\"data\":{\"timestamp\":\"0x1\","
        "\"payment_hash\":\"" HASH_A "\"}}}",
        /* decimal amount (the old TypeScript mistake) */
        "{\"invoice\":{\"currency\":\"Fibt\",\"amount\":\"10\",\"data\":{\"timestamp\":\"0x1\","
        "\"payment_hash\":\"" HASH_A "\"}}}",
        /* amount beyond 64 bits */
        "{\"invoice\":{\"currency\":\"Fibt\",\"amount\":\"0x10000000000000000\",\"data\":{"
        "\"timestamp\":\"0x1\",\"payment_hash\":\"" HASH_A "\"}}}",
        /* short hash */
        "{\"invoice\":{\"currency\":\"Fibt\",\"data\":{\"timestamp\":\"0x1\",\"payment_hash\":"
        "\"0xabcd\"}}}",
        /* no timestamp */
        "{\"invoice\":{\"currency\":\"Fibt\",\"data\":{\"payment_hash\":\"" HASH_A "\"}}}",
        /* attrs not an array / entry not an object / bad expiry */
        "{\"invoice\":{\"currency\":\"Fibt\",\"data\":{\"timestamp\":\"0x1\",\"payment_hash\":"
        "\"" HASH_A "\",\"attrs\":{}}}}",
        "{\"invoice\":{\"currency\":\"Fibt\",\"data\":{\"timestamp\":\"0x1\",\"payment_hash\":"
        "\"" HASH_A "\",\"attrs\":[1]}}}",
        "{\"invoice\":{\"currency\":\"Fibt\",\"data\":{\"timestamp\":\"0x1\",\"payment_hash\":"
        "\"" HASH_A "\",\"attrs\":[{\"expiry_time\":3600}]}}}",
        "{\"invoice\":{\"currency\":\"Fibt\",\"data\":{\"timestamp\":\"0x1\",\"payment_hash\":"
        "\"" HASH_A "\",\"attrs\":[{\"ExpiryTime\":{\"secs\":-1}}]}}}",
        /* status spelled wrong */
        "{\"invoice\":{\"currency\":\"Fibt\",\"data\":{\"timestamp\":\"0x1\",\"payment_hash\":"
        "\"" HASH_A "\"}},\"status\":\"paid\"}",
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(bad); i++) {
        json_t *r = parse(bad[i]);
        struct fnn_invoice inv;
        char err[128] = "";
        if (fnn_invoice_decode(r, &inv, err, sizeof err) != -1)
            fail_msg("accepted malformed invoice #%zu", i);
        assert_true(err[0] != '\0');
        json_decref(r);
    }
}

static void test_payment_decode(void **state)
{
    json_t *r =
        parse("{\"payment_hash\":\"" HASH_A "\",\"status\":\"Created\",\"created_at\":"
              "\"0x1958957cc7d\",\"last_updated_at\":\"0x1958957cc7d\",\"failed_error\":null,"
              "\"fee\":\"0x186a0\"}");
    struct fnn_payment p;
    char err[128];
    assert_int_equal(fnn_payment_decode(r, &p, err, sizeof err), 0);
    assert_string_equal(p.payment_hash, HASH_A);
    assert_int_equal(p.status, FNN_PAY_CREATED);
    assert_int_equal(p.fee, 100000);
    assert_int_equal(p.created_at_ms, 0x1958957cc7dULL);
    assert_null(p.failed_error);
    json_decref(r);

    r = parse("{\"payment_hash\":\"" HASH_A "\",\"status\":\"Failed\",\"failed_error\":\"no path\","
              "\"fee\":\"0x0\"}");
    assert_int_equal(fnn_payment_decode(r, &p, err, sizeof err), 0);
    assert_int_equal(p.status, FNN_PAY_FAILED);
    assert_string_equal(p.failed_error, "no path");
    json_decref(r);

    static const char *const bad[] = {
        "null",
        "{\"payment_hash\":\"" HASH_A "\",\"status\":\"Done\"}",
        "{\"payment_hash\":\"" HASH_A "\"}",
        "{\"status\":\"Success\"}",
        "{\"payment_hash\":\"" HASH_A "\",\"status\":\"Success\",\"fee\":\"0x00\"}",
        "{\"payment_hash\":\"" HASH_A "\",\"status\":\"Success\",\"fee\":100}",
        "{\"payment_hash\":\"" HASH_A "\",\"status\":\"Failed\",\"failed_error\":7}",
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(bad); i++) {
        r = parse(bad[i]);
        if (fnn_payment_decode(r, &p, err, sizeof err) != -1)
            fail_msg("accepted malformed payment #%zu", i);
        json_decref(r);
    }
}

/* A v0.8 Channel as fnn-rpc.md section 7 lists its fields. */
#define RUSD_SCRIPT                                                                                \
    "{\"code_hash\":\"0x1142755a044bf2ee358cba9f2da187ce928c91cd4dc8692ded0337efa677d21a\","       \
    "\"hash_type\":\"type\",\"args\":"                                                             \
    "\"0x878fcc6f1f08d48e87bb1c3b3d5083f23f8a39c5d5c764f253b55b998526439b\"}"
#define CHANNEL(state, local, script)                                                              \
    "{\"channel_id\":\"" HASH_A "\",\"is_public\":true,\"is_acceptor\":false,"                     \
    "\"is_one_way\":false,\"channel_outpoint\":null,\"pubkey\":"                                   \
    "\"02b6d4e3ab86a2ca2fad6fae0ecb2e1e559e0b911939872a90abdda6d20302be71\","                      \
    "\"funding_udt_type_script\":" script ",\"state\":{\"state_name\":\"" state "\","              \
    "\"state_flags\":\"OUR_INIT_SENT | THEIR_INIT_SENT\"},\"local_balance\":\"" local "\","        \
    "\"offered_tlc_balance\":\"0x0\",\"remote_balance\":\"0x174876e800\","                         \
    "\"received_tlc_balance\":\"0x0\",\"pending_tlcs\":[],"                                        \
    "\"latest_commitment_transaction_hash\":null,\"created_at\":\"0x1958957cc7d\","                \
    "\"enabled\":true,\"tlc_expiry_delta\":\"0x5265c00\","                                         \
    "\"tlc_fee_proportional_millionths\":\"0x3e8\",\"shutdown_transaction_hash\":null,"            \
    "\"failure_detail\":null}"

static void test_channels_total(void **state)
{
    json_t *rusd_json = parse(RUSD_SCRIPT);
    struct fnn_script rusd;
    assert_int_equal(fnn_script_from_json(rusd_json, &rusd), 0);
    json_t *r = parse("{\"channels\":[" CHANNEL("ChannelReady", "0x2540be400", "null") "," CHANNEL(
        "ShuttingDown", "0x5f5e100",
        "null") "," CHANNEL("Closed", "0x3b9aca00",
                            "null") "," CHANNEL("ChannelReady", "0xf4240",
                                                RUSD_SCRIPT) "," CHANNEL("ChannelReady", "0x7",
                                                                         "{\"code_hash\":\"" HASH_A
                                                                         "\",\"hash_type\":"
                                                                         "\"data1\",\"args\":"
                                                                         "\"0x\"}") "]}");
    struct fnn_channel_totals t;
    char err[160];
    assert_int_equal(fnn_channels_total(r, &rusd, &t, err, sizeof err), 0);
    assert_int_equal(t.ckb_local, 10000000000ULL + 100000000ULL); /* Closed not counted */
    assert_int_equal(t.ckb_channels, 2);
    assert_int_equal(t.udt_local, 1000000);
    assert_int_equal(t.udt_channels, 1);
    assert_int_equal(t.other_channels, 1);
    /* Without a UDT asked about, every UDT channel is another's. */
    assert_int_equal(fnn_channels_total(r, NULL, &t, err, sizeof err), 0);
    assert_int_equal(t.udt_local, 0);
    assert_int_equal(t.other_channels, 2);
    json_decref(r);

    r = parse("{\"channels\":[]}");
    assert_int_equal(fnn_channels_total(r, &rusd, &t, err, sizeof err), 0);
    assert_int_equal(t.ckb_local + t.udt_local + t.ckb_channels + t.other_channels, 0);
    json_decref(r);

    static const char *const bad[] = {
        "null",
        "{}",
        "{\"channels\":{}}",
        "{\"channels\":[7]}",
        "{\"channels\":[{\"funding_udt_type_script\":null}]}",
        "{\"channels\":[" CHANNEL("ChannelReady", "0x01", "null") "]}",
        "{\"channels\":[" CHANNEL("ChannelReady", "100", "null") "]}",
        "{\"channels\":[" CHANNEL("ChannelReady", "0x100000000000000000", "null") "]}",
        "{\"channels\":[" CHANNEL("ChannelReady", "0x1", "{\"code_hash\":\"0x12\"}") "]}",
        "{\"channels\":[" CHANNEL("ChannelReady", "0xffffffffffffffff",
                                  "null") "," CHANNEL("ChannelReady", "0x1", "null") "]}",
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(bad); i++) {
        r = parse(bad[i]);
        err[0] = '\0';
        if (fnn_channels_total(r, &rusd, &t, err, sizeof err) != -1)
            fail_msg("accepted malformed channels #%zu", i);
        assert_true(err[0] != '\0');
        json_decref(r);
    }
    json_decref(rusd_json);
}

static void test_status_names(void **state)
{
    static const char *const names[] = {"Open", "Cancelled", "Expired", "Received", "Paid"};
    for (size_t i = 0; i < FL_ARRAY_LEN(names); i++) {
        enum fnn_invoice_status s;
        assert_int_equal(fnn_invoice_status_parse(names[i], &s), 0);
        assert_int_equal(s, FNN_INV_OPEN + (int)i);
        assert_string_equal(fnn_invoice_status_name(s), names[i]);
    }
    enum fnn_invoice_status s;
    assert_int_equal(fnn_invoice_status_parse("open", &s), -1);
    assert_int_equal(fnn_invoice_status_parse("Canceled", &s), -1);
    assert_int_equal(fnn_invoice_status_parse("Unknown", &s), -1);
    assert_int_equal(fnn_invoice_status_parse("", &s), -1);
}

static void test_hash256(void **state)
{
    char out[67];
    assert_int_equal(fnn_hash256_normalize(HASH_A, out), 0);
    assert_string_equal(out, HASH_A);
    assert_int_equal(fnn_hash256_normalize(&HASH_A[2], out), 0);
    assert_string_equal(out, HASH_A);
    assert_int_equal(fnn_hash256_normalize(
                         "0xAFB6E58A2A4D2E5CC3DF7BB4CF5A2B0C6EAC4B7A0D14E9C5E3A9F7C1D7C95432", out),
                     0);
    assert_string_equal(out, HASH_A);
    assert_int_equal(fnn_hash256_normalize("0x", out), -1);
    assert_int_equal(fnn_hash256_normalize(NULL, out), -1);
    assert_int_equal(fnn_hash256_normalize(HASH_A "00", out), -1);
    assert_int_equal(fnn_hash256_normalize(
                         "0xgfb6e58a2a4d2e5cc3df7bb4cf5a2b0c6eac4b7a0d14e9c5e3a9f7c1d7c95432", out),
                     -1);
    assert_int_equal(fnn_hash256_normalize(
                         "0Xafb6e58a2a4d2e5cc3df7bb4cf5a2b0c6eac4b7a0d14e9c5e3a9f7c1d7c95432", out),
                     -1);
}

static void test_classify(void **state)
{
    static const struct {
        int code;
        const char *msg;
        enum fnn_outcome want;
    } table[] = {
        {-32603, "Internal error", FNN_TRANSIENT},
        {-32009, "Server is busy, try again later", FNN_TRANSIENT},
        {-32000, "node busy", FNN_TRANSIENT},
        {-32000, "Service Unavailable", FNN_TRANSIENT},
        {-32000, "request timed out", FNN_TRANSIENT},
        {-32000, "Timeout waiting for actor", FNN_TRANSIENT},
        {-32000, "node is not ready", FNN_TRANSIENT},
        {-32000, "connection reset by peer", FNN_TRANSIENT},
        {-32000, "please TRY AGAIN", FNN_TRANSIENT},
        {-32000, "too many requests", FNN_TRANSIENT},
        {-32000, "invoice not found", FNN_PERMANENT},
        {-32000, "invoice already exists", FNN_PERMANENT},
        {-32000, "Currency must be Fibt with the chain network", FNN_PERMANENT},
        {-32000, "InvalidParameter: Failed to validate payment request: \"invoice is expired\"",
         FNN_PERMANENT},
        {-32000, "InvalidParameter: Payment session not found: " HASH_A, FNN_PERMANENT},
        {-32000, NULL, FNN_PERMANENT},
        {-32602, "Invalid params", FNN_PERMANENT},
        {-32602, "timeout field is invalid", FNN_PERMANENT},
        {-32601, "Method not found", FNN_PERMANENT},
        {-32999, "Unauthorized", FNN_PERMANENT},
        {-32700, "Parse error", FNN_PERMANENT},
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(table); i++) {
        if (fnn_classify_error(table[i].code, table[i].msg) != table[i].want)
            fail_msg("row %zu (%d %s) misclassified", i, table[i].code,
                     table[i].msg ? table[i].msg : "(null)");
    }
}

/* ---- a one-file HTTP responder on the test's loop ---- */

struct responder {
    struct ev_loop *loop;
    int fd;
    int port;
    ev_io accept_io;
    int requests;
    char last_auth[128];
    struct conn *conns; /* open connections, closed at teardown */
};

struct conn {
    struct responder *r;
    struct conn *prev, *next;
    int fd;
    ev_io io;
    char in[65536];
    size_t inlen;
    char *out;
    size_t outlen, outoff;
    int hang;
};

static void conn_close(struct conn *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        c->r->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    ev_io_stop(c->r->loop, &c->io);
    close(c->fd);
    free(c->out);
    free(c);
}

static void conn_write(struct ev_loop *loop, ev_io *w, int revents)
{
    struct conn *c = container_of(w, struct conn, io);
    while (c->outoff < c->outlen) {
        ssize_t n = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            conn_close(c);
            return;
        }
        c->outoff += (size_t)n;
    }
    conn_close(c);
}

static void conn_reply(struct conn *c, int status, const char *body, size_t len)
{
    char head[256];
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n",
                      status, len);
    c->out = xmalloc((size_t)hl + len);
    memcpy(c->out, head, (size_t)hl);
    memcpy(c->out + hl, body, len);
    c->outlen = (size_t)hl + len;
    ev_io_stop(c->r->loop, &c->io);
    ev_io_init(&c->io, conn_write, c->fd, EV_WRITE);
    ev_io_start(c->r->loop, &c->io);
}

/* Chooses the answer by method name: see the cases below. */
static void conn_answer(struct conn *c, const char *body, size_t len)
{
    json_t *req = json_loadb(body, len, 0, NULL);
    const char *method = json_string_value(json_object_get(req, "method"));
    json_int_t id = json_integer_value(json_object_get(req, "id"));
    char buf[1024];
    c->r->requests++;
    if (method == NULL) {
        conn_reply(c, 400, "bad", 3);
    } else if (strcmp(method, "echo") == 0) {
        json_t *res = json_pack("{s:s,s:I,s:{s:O,s:s}}", "jsonrpc", "2.0", "id", id, "result",
                                "params", json_object_get(req, "params"), "auth", c->r->last_auth);
        char *s = json_dumps(res, JSON_COMPACT);
        conn_reply(c, 200, s, strlen(s));
        free(s);
        json_decref(res);
    } else if (strcmp(method, "notfound") == 0 || strcmp(method, "busy") == 0) {
        int n = snprintf(buf, sizeof buf,
                         "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32000,\"message\":\"%s\","
                         "\"data\":{}},\"id\":%lld}",
                         method[0] == 'n' ? "invoice not found" : "node busy", (long long)id);
        conn_reply(c, 200, buf, (size_t)n);
    } else if (strcmp(method, "http500") == 0) {
        conn_reply(c, 500, "<html>oops</html>", 17);
    } else if (strcmp(method, "http500rpc") == 0) {
        int n = snprintf(buf, sizeof buf,
                         "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32601,\"message\":\"Method not "
                         "found\"},\"id\":%lld}",
                         (long long)id);
        conn_reply(c, 500, buf, (size_t)n);
    } else if (strcmp(method, "http404") == 0) {
        conn_reply(c, 404, "nope", 4);
    } else if (strcmp(method, "garbage") == 0) {
        conn_reply(c, 200, "{\"jsonrpc\":", 11);
    } else if (strcmp(method, "huge") == 0) {
        size_t n = (5u << 20);
        char *big = xmalloc(n);
        memset(big, ' ', n);
        conn_reply(c, 200, big, n);
        free(big);
    } else { /* "hang": never answer */
        c->hang = 1;
    }
    json_decref(req);
}

static void conn_read(struct ev_loop *loop, ev_io *w, int revents)
{
    struct conn *c = container_of(w, struct conn, io);
    ssize_t n = read(c->fd, c->in + c->inlen, sizeof c->in - 1 - c->inlen);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n <= 0) {
        conn_close(c);
        return;
    }
    c->inlen += (size_t)n;
    c->in[c->inlen] = '\0';
    char *end = strstr(c->in, "\r\n\r\n");
    if (end == NULL || c->hang)
        return;
    char *cl = strcasestr(c->in, "content-length:");
    size_t want = cl != NULL ? strtoul(cl + 15, NULL, 10) : 0;
    size_t have = c->inlen - (size_t)(end + 4 - c->in);
    if (have < want)
        return;
    char *auth = strcasestr(c->in, "authorization: ");
    c->r->last_auth[0] = '\0';
    if (auth != NULL && auth < end)
        sscanf(auth + 15, "%127[^\r]", c->r->last_auth);
    conn_answer(c, end + 4, want);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct responder *r = container_of(w, struct responder, accept_io);
    int fd = accept4(r->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    struct conn *c = xcalloc(1, sizeof *c);
    c->r = r;
    c->fd = fd;
    c->next = r->conns;
    if (r->conns != NULL)
        r->conns->prev = c;
    r->conns = c;
    ev_io_init(&c->io, conn_read, fd, EV_READ);
    ev_io_start(loop, &c->io);
}

static int listen_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 16) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
        fail_msg("cannot listen on loopback: %s", strerror(errno));
    *port = ntohs(sa.sin_port);
    return fd;
}

/* ---- client tests ---- */

struct env {
    struct ev_loop *loop;
    struct responder r;
    struct fnn_client *client;
};

struct outcome {
    int started; /* set right after fnn_call returned */
    int done;
    int early; /* callback ran before fnn_call returned */
    enum fnn_outcome outcome;
    int rpc_code;
    long http_status;
    char message[256];
    json_t *result;
    ev_tstamp at;
    struct ev_loop *loop;
};

static void on_result(void *ctx, const struct fnn_result *res)
{
    struct outcome *o = ctx;
    if (!o->started)
        o->early = 1;
    o->done++;
    o->outcome = res->outcome;
    o->rpc_code = res->rpc_code;
    o->http_status = res->http_status;
    snprintf(o->message, sizeof o->message, "%s", res->message);
    o->result = res->result != NULL ? json_deep_copy(res->result) : NULL;
    o->at = ev_now(o->loop);
    ev_break(o->loop, EVBREAK_ONE);
}

static int setup(void **state)
{
    struct env *e = xcalloc(1, sizeof *e);
    e->loop = ev_loop_new(EVFLAG_AUTO);
    e->r.loop = e->loop;
    e->r.fd = listen_loopback(&e->r.port);
    ev_io_init(&e->r.accept_io, on_accept, e->r.fd, EV_READ);
    ev_io_start(e->loop, &e->r.accept_io);
    char url[64], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", e->r.port);
    e->client = fnn_client_new(e->loop, url, NULL, 2000, err, sizeof err);
    if (e->client == NULL)
        fail_msg("fnn_client_new: %s", err);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    fnn_client_free(e->client);
    while (e->r.conns != NULL)
        conn_close(e->r.conns);
    ev_io_stop(e->loop, &e->r.accept_io);
    close(e->r.fd);
    ev_loop_destroy(e->loop);
    free(e);
    return 0;
}

static void on_stop(struct ev_loop *loop, ev_timer *w, int revents)
{
    ev_break(loop, EVBREAK_ONE);
}

/* Runs one call to completion (or until a safety timer) and returns the outcome. */
static void run_call(struct env *e, struct fnn_client *client, const char *method, json_t *params,
                     int timeout_ms, struct outcome *o)
{
    memset(o, 0, sizeof *o);
    o->loop = e->loop;
    fnn_call(client, method, params, timeout_ms, on_result, o);
    o->started = 1;
    assert_int_equal(o->done, 0);
    ev_timer guard; /* a broken client must fail the test, not hang it */
    ev_timer_init(&guard, on_stop, 10.0, 0);
    ev_timer_start(e->loop, &guard);
    ev_run(e->loop, 0);
    ev_timer_stop(e->loop, &guard);
    assert_int_equal(o->done, 1);
    assert_false(o->early);
}

static void test_client_ok(void **state)
{
    struct env *e = *state;
    struct outcome o;
    run_call(e, e->client, "echo", json_pack("{s:s}", "payment_hash", HASH_A), 0, &o);
    assert_int_equal(o.outcome, FNN_OK);
    assert_int_equal(o.http_status, 200);
    assert_string_equal(o.message, "");
    /* framing: "params":[{...}] */
    json_t *p = json_object_get(o.result, "params");
    assert_true(json_is_array(p));
    assert_int_equal(json_array_size(p), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(p, 0), "payment_hash")),
                        HASH_A);
    assert_string_equal(json_string_value(json_object_get(o.result, "auth")), "");
    json_decref(o.result);

    run_call(e, e->client, "echo", NULL, 0, &o);
    assert_int_equal(o.outcome, FNN_OK);
    p = json_object_get(o.result, "params");
    assert_true(json_is_array(p));
    assert_int_equal(json_array_size(p), 0);
    json_decref(o.result);
    assert_int_equal(fnn_client_inflight(e->client), 0);
}

/* Positional params go out exactly as built; JSON-RPC errors come back unclassified. */
static void test_client_positional(void **state)
{
    struct env *e = *state;
    struct outcome o;
    memset(&o, 0, sizeof o);
    o.loop = e->loop;
    fnn_call_positional(e->client, "echo",
                        json_pack("[{s:s},s,s]", "code_hash", HASH_A, "asc", "0x64"), 0, on_result,
                        &o);
    o.started = 1;
    ev_run(e->loop, 0);
    assert_int_equal(o.done, 1);
    assert_false(o.early);
    assert_int_equal(o.outcome, FNN_OK);
    json_t *want = json_pack("[{s:s},s,s]", "code_hash", HASH_A, "asc", "0x64");
    assert_true(json_equal(json_object_get(o.result, "params"), want));
    json_decref(want);
    json_decref(o.result);

    memset(&o, 0, sizeof o);
    o.loop = e->loop;
    fnn_call_positional(e->client, "echo", NULL, 0, on_result, &o);
    o.started = 1;
    ev_run(e->loop, 0);
    json_t *p = json_object_get(o.result, "params");
    assert_true(json_is_array(p));
    assert_int_equal(json_array_size(p), 0);
    json_decref(o.result);

    /* "node busy" is transient for FNN; a positional caller gets the raw code to judge. */
    memset(&o, 0, sizeof o);
    o.loop = e->loop;
    fnn_call_positional(e->client, "busy", json_array(), 0, on_result, &o);
    o.started = 1;
    ev_run(e->loop, 0);
    assert_int_equal(o.outcome, FNN_PERMANENT);
    assert_int_equal(o.rpc_code, -32000);
    assert_string_equal(o.message, "node busy");

    /* transport failures keep their classification */
    memset(&o, 0, sizeof o);
    o.loop = e->loop;
    fnn_call_positional(e->client, "http500", json_array(), 0, on_result, &o);
    o.started = 1;
    ev_run(e->loop, 0);
    assert_int_equal(o.outcome, FNN_TRANSIENT);
    assert_int_equal(o.rpc_code, 0);
    assert_int_equal(fnn_client_inflight(e->client), 0);
}

static void test_client_token_and_hostname(void **state)
{
    struct env *e = *state;
    char url[64], err[256];
    snprintf(url, sizeof url, "http://localhost:%d", e->r.port);
    struct fnn_client *c = fnn_client_new(e->loop, url, "sekrit-token", 2000, err, sizeof err);
    assert_non_null(c);
    struct outcome o;
    run_call(e, c, "echo", NULL, 0, &o);
    assert_int_equal(o.outcome, FNN_OK);
    assert_string_equal(json_string_value(json_object_get(o.result, "auth")),
                        "Bearer sekrit-token");
    json_decref(o.result);
    /* The name was resolved up front and pinned: curl started no resolver thread. */
    assert_int_equal(loop_thread_count(), 1);
    fnn_client_free(c);
}

static void test_client_rpc_errors(void **state)
{
    struct env *e = *state;
    struct outcome o;
    run_call(e, e->client, "notfound", json_object(), 0, &o);
    assert_int_equal(o.outcome, FNN_PERMANENT);
    assert_int_equal(o.rpc_code, -32000);
    assert_string_equal(o.message, "invoice not found");

    run_call(e, e->client, "busy", json_object(), 0, &o);
    assert_int_equal(o.outcome, FNN_TRANSIENT);
    assert_int_equal(o.rpc_code, -32000);

    run_call(e, e->client, "http500", json_object(), 0, &o);
    assert_int_equal(o.outcome, FNN_TRANSIENT);
    assert_int_equal(o.http_status, 500);
    assert_int_equal(o.rpc_code, 0);

    /* a JSON-RPC error body decides over the HTTP status */
    run_call(e, e->client, "http500rpc", json_object(), 0, &o);
    assert_int_equal(o.outcome, FNN_PERMANENT);
    assert_int_equal(o.rpc_code, -32601);

    run_call(e, e->client, "http404", json_object(), 0, &o);
    assert_int_equal(o.outcome, FNN_PERMANENT);

    run_call(e, e->client, "garbage", json_object(), 0, &o);
    assert_int_equal(o.outcome, FNN_TRANSIENT);

    run_call(e, e->client, "huge", json_object(), 0, &o);
    assert_int_equal(o.outcome, FNN_TRANSIENT);
}

static void test_client_timeout(void **state)
{
    struct env *e = *state;
    struct outcome o;
    ev_now_update(e->loop);
    ev_tstamp t0 = ev_now(e->loop);
    run_call(e, e->client, "hang", json_object(), 300, &o);
    assert_int_equal(o.outcome, FNN_TRANSIENT);
    assert_int_equal(o.http_status, 0);
    assert_true(o.at - t0 >= 0.25);
    assert_true(o.at - t0 < 1.5);
}

static void test_client_refused(void **state)
{
    struct env *e = *state;
    int port;
    int fd = listen_loopback(&port);
    close(fd); /* nothing listens there any more */
    char url[64], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    struct fnn_client *c = fnn_client_new(e->loop, url, NULL, 2000, err, sizeof err);
    assert_non_null(c);
    struct outcome o;
    run_call(e, c, "echo", NULL, 0, &o);
    assert_int_equal(o.outcome, FNN_TRANSIENT);
    assert_int_equal(o.http_status, 0);
    assert_true(o.message[0] != '\0');
    fnn_client_free(c);
}

static void never_called(void *ctx, const struct fnn_result *res)
{
    fail_msg("callback ran after cancel/free");
}

static void test_client_cancel_and_free(void **state)
{
    struct env *e = *state;
    struct fnn_call *call = fnn_call(e->client, "hang", json_object(), 200, never_called, NULL);
    assert_int_equal(fnn_client_inflight(e->client), 1);
    fnn_call_cancel(call);
    assert_int_equal(fnn_client_inflight(e->client), 0);

    call = fnn_call(e->client, "echo", NULL, 200, never_called, NULL);
    fnn_call_cancel(call); /* cancelled before it even connected */

    char url[64], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", e->r.port);
    struct fnn_client *c = fnn_client_new(e->loop, url, NULL, 2000, err, sizeof err);
    fnn_call(c, "hang", json_object(), 200, never_called, NULL);
    fnn_call(c, "echo", NULL, 200, never_called, NULL);
    assert_int_equal(fnn_client_inflight(c), 2);
    fnn_client_free(c);

    /* let the loop run past every deadline: nothing may fire */
    ev_timer stop;
    ev_timer_init(&stop, on_stop, 0.5, 0);
    ev_timer_start(e->loop, &stop);
    ev_run(e->loop, 0);
    ev_timer_stop(e->loop, &stop);
}

struct chain {
    struct env *e;
    int step;
    struct outcome inner;
};

/* A callback that starts another call, and one that frees the client it runs on. */
static void chain_cb(void *ctx, const struct fnn_result *res)
{
    struct chain *ch = ctx;
    ch->step++;
    assert_int_equal(res->outcome, FNN_OK);
    ch->inner.loop = ch->e->loop;
    fnn_call(ch->e->client, "notfound", json_object(), 0, on_result, &ch->inner);
    ch->inner.started = 1;
    assert_int_equal(ch->inner.done, 0);
}

static void free_cb(void *ctx, const struct fnn_result *res)
{
    struct fnn_client **c = ctx;
    fnn_client_free(*c);
    *c = NULL;
}

static void test_client_reentrancy(void **state)
{
    struct env *e = *state;
    struct chain ch = {.e = e};
    fnn_call(e->client, "echo", NULL, 0, chain_cb, &ch);
    ev_run(e->loop, 0);
    assert_int_equal(ch.step, 1);
    assert_int_equal(ch.inner.done, 1);
    assert_int_equal(ch.inner.outcome, FNN_PERMANENT);

    char url[64], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", e->r.port);
    struct fnn_client *c = fnn_client_new(e->loop, url, NULL, 2000, err, sizeof err);
    fnn_call(c, "echo", NULL, 0, free_cb, &c);
    fnn_call(c, "hang", NULL, 300, never_called, NULL);
    ev_timer stop;
    ev_timer_init(&stop, on_stop, 0.6, 0);
    ev_timer_start(e->loop, &stop);
    ev_run(e->loop, 0);
    ev_timer_stop(e->loop, &stop);
    assert_null(c);
}

static void test_client_bad_url(void **state)
{
    char err[256];
    assert_null(fnn_client_new(NULL, "not a url", NULL, 1000, err, sizeof err));
    assert_true(err[0] != '\0');
    assert_null(fnn_client_new(NULL, "ftp://127.0.0.1/", NULL, 1000, err, sizeof err));
    assert_string_equal(err, "fnn_rpc_url must be http:// or https://");
    assert_null(fnn_client_new_named(NULL, "not a url", NULL, 1000, "ckb_rpc_url", "CKB node", err,
                                     sizeof err));
    assert_string_equal(err, "ckb_rpc_url is not a valid URL");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invoice_decode_new_invoice),
        cmocka_unit_test(test_invoice_decode_pascal_and_status),
        cmocka_unit_test(test_invoice_decode_no_expiry),
        cmocka_unit_test(test_invoice_decode_malformed),
        cmocka_unit_test(test_payment_decode),
        cmocka_unit_test(test_channels_total),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_hash256),
        cmocka_unit_test(test_classify),
        cmocka_unit_test_setup_teardown(test_client_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_positional, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_token_and_hostname, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_rpc_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_cancel_and_free, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_reentrancy, setup, teardown),
        cmocka_unit_test(test_client_bad_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
