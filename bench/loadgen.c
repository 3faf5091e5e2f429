/* A small HTTP load generator for the benchmarks, built only with -DBUILD_BENCH=ON. h2load cannot
 * vary headers per request, and every signed call to the hub needs its own x-nonce, so this tool
 * signs each request itself (HMAC-SHA256 over ts "." nonce "." body, as API.md asks) and drives
 * the load over h2c (C connections with S concurrent streams each) or HTTP/1.1
 * (C connections, one request at a time each) on one libcurl multi handle polled with epoll.
 * It prints one `result key=value ...` line: requests/s, latency percentiles measured from
 * submission to completion, and how many answers were not HTTP 200 or carried a JSON-RPC
 * "error", so a run full of refusals is never read as throughput. With --presign N it instead
 * writes N pre-signed nonce/signature lines for bench/signed.lua (wrk cannot sign on its own). */

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define LOADGEN_BODY_KEEP 2048     /* bytes of each answer kept for the error check */
#define LOADGEN_NONCE_LEN 32       /* 16 hex of per-process randomness + 16 hex of counter */
#define LOADGEN_SIG_LEN 64         /* lowercase hex of an HMAC-SHA256 */
#define LOADGEN_DRAIN_SECONDS 15.0 /* bound on waiting for in-flight requests after the end */
#define LOADGEN_EPOLL_BATCH 64

enum loadgen_proto {
    LOADGEN_H2C,
    LOADGEN_HTTP1,
};

struct options {
    const char *url;
    int connections;
    int streams;
    double duration; /* seconds of measured load, unless requests > 0 */
    long long requests;
    double warmup; /* seconds of unmeasured load first */
    const char *method;
    const char *body;
    char *app_id; /* NULL: unsigned requests */
    const char *secret;
    enum loadgen_proto proto;
    long timeout_ms;
    long long presign; /* > 0: write pre-signed lines instead of running load */
    long ts_offset;    /* seconds added to the clock for x-ts */
};

struct run;

/* One request slot: an easy handle reused for request after request, so curl keeps its
 * connection and the slot keeps its header list until the next request replaces it. */
struct slot {
    struct run *run;
    CURL *easy;
    struct curl_slist *headers;
    double started;
    int measured; /* started inside the measured window */
    size_t body_len;
    char body[LOADGEN_BODY_KEEP + 1];
};

struct run {
    const struct options *opt;
    CURLM *multi;
    int epfd;
    double timer_at; /* < 0: curl wants no timeout callback */
    struct slot *slots;
    int nslots;
    int active;
    double warm_end;
    double end; /* duration mode only */
    long long issued_measured;
    uint32_t *lat_us;
    size_t nlat;
    size_t caplat;
    long long non200;
    long long rpc_errors;
    long long transport_errors;
    long long wrong_protocol;
    long long unmeasured_errors; /* during priming and warm-up */
    long long connects;
    int priming;
    long http_version; /* what the h2c slots ask curl for */
    int sampled_error;
    char nonce_prefix[17];
    uint64_t nonce_counter;
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: loadgen --url URL [options]\n"
            "  --connections C     connections (default 16)\n"
            "  --streams S         concurrent requests per connection over h2c (default 10)\n"
            "  --duration SECONDS  measured load time (default 5)\n"
            "  --requests N        stop after N measured requests instead\n"
            "  --warmup SECONDS    unmeasured load before measuring (default 0)\n"
            "  --method M          GET or POST (default: POST with --body, else GET)\n"
            "  --body STRING       request body (sent with content-type application/json)\n"
            "  --signed ID:SECRET  sign each request for app ID with a fresh nonce\n"
            "  --http1             HTTP/1.1 instead of h2c\n"
            "  --timeout-ms MS     per-request bound (default 10000)\n"
            "  --presign N         write N pre-signed lines for bench/signed.lua and exit\n"
            "                      (needs --signed and --body; the line format is in signed.lua)\n"
            "  --ts-offset S       sign with x-ts = now + S seconds (default 0); -295 makes the\n"
            "                      hub forget each nonce about 6 s later instead of 5 minutes\n");
}

static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"connections", required_argument, NULL, 'c'},
        {"streams", required_argument, NULL, 's'},
        {"duration", required_argument, NULL, 'd'},
        {"requests", required_argument, NULL, 'n'},
        {"warmup", required_argument, NULL, 'w'},
        {"method", required_argument, NULL, 'm'},
        {"body", required_argument, NULL, 'b'},
        {"signed", required_argument, NULL, 'k'},
        {"http1", no_argument, NULL, '1'},
        {"timeout-ms", required_argument, NULL, 't'},
        {"presign", required_argument, NULL, 'p'},
        {"ts-offset", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (struct options){.connections = 16, .streams = 10, .duration = 5.0, .timeout_ms = 10000};
    int ch;
    char *end;
    while ((ch = getopt_long(argc, argv, "u:c:s:d:n:w:m:b:k:1t:p:o:h", longopts, NULL)) != -1) {
        errno = 0;
        end = "";
        switch (ch) {
        case 'u':
            o->url = optarg;
            break;
        case 'c':
            o->connections = (int)strtol(optarg, &end, 10);
            break;
        case 's':
            o->streams = (int)strtol(optarg, &end, 10);
            break;
        case 'd':
            o->duration = strtod(optarg, &end);
            break;
        case 'n':
            o->requests = strtoll(optarg, &end, 10);
            break;
        case 'w':
            o->warmup = strtod(optarg, &end);
            break;
        case 't':
            o->timeout_ms = strtol(optarg, &end, 10);
            break;
        case 'p':
            o->presign = strtoll(optarg, &end, 10);
            break;
        case 'o':
            o->ts_offset = strtol(optarg, &end, 10);
            break;
        case 'm':
            o->method = optarg;
            break;
        case 'b':
            o->body = optarg;
            break;
        case '1':
            o->proto = LOADGEN_HTTP1;
            break;
        case 'k': {
            char *colon = strchr(optarg, ':');
            if (colon == NULL || colon == optarg || colon[1] == '\0') {
                fprintf(stderr, "loadgen: --signed wants APP_ID:SECRET\n");
                return -1;
            }
            o->app_id = strndup(optarg, (size_t)(colon - optarg));
            o->secret = colon + 1;
            break;
        }
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
        if (errno != 0 || *end != '\0') {
            fprintf(stderr, "loadgen: bad value '%s'\n", optarg);
            return -1;
        }
    }
    if (o->method == NULL)
        o->method = o->body != NULL ? "POST" : "GET";
    if (o->presign > 0) {
        if (o->app_id == NULL || o->body == NULL || strchr(o->body, '\n') != NULL) {
            fprintf(stderr, "loadgen: --presign needs --signed and a one-line --body\n");
            return -1;
        }
        return 0;
    }
    if (o->url == NULL || o->connections < 1 || o->streams < 1 || o->timeout_ms < 1 ||
        (o->requests <= 0 && o->duration <= 0) || o->warmup < 0 || o->requests < 0) {
        usage(stderr);
        return -1;
    }
    if (strcmp(o->method, "GET") != 0 && strcmp(o->method, "POST") != 0) {
        fprintf(stderr, "loadgen: --method is GET or POST\n");
        return -1;
    }
    /* HTTP/1.1 without pipelining carries one request per connection at a time. */
    if (o->proto == LOADGEN_HTTP1)
        o->streams = 1;
    return 0;
}

static int nonce_prefix_init(char out[17])
{
    unsigned char r[8];
    if (RAND_bytes(r, sizeof r) != 1)
        return -1;
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(out + 2 * i, 3, "%02x", r[i]);
    return 0;
}

/* Signs ts "." nonce "." body; sig gets LOADGEN_SIG_LEN lowercase hex digits and a NUL. */
static int sign(const char *secret, const char *ts, const char *nonce, const char *body,
                char sig[LOADGEN_SIG_LEN + 1])
{
    size_t tl = strlen(ts), nl = strlen(nonce), bl = strlen(body);
    size_t n = tl + 1 + nl + 1 + bl;
    char stackbuf[1024];
    char *msg = n <= sizeof stackbuf ? stackbuf : malloc(n);
    if (msg == NULL)
        return -1;
    memcpy(msg, ts, tl);
    msg[tl] = '.';
    memcpy(msg + tl + 1, nonce, nl);
    msg[tl + 1 + nl] = '.';
    memcpy(msg + tl + nl + 2, body, bl);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    unsigned char *ok =
        HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)msg, n, mac, &maclen);
    if (msg != stackbuf)
        free(msg);
    if (ok == NULL || maclen != 32)
        return -1;
    static const char hexdig[] = "0123456789abcdef";
    for (unsigned int i = 0; i < maclen; i++) {
        sig[2 * i] = hexdig[mac[i] >> 4];
        sig[2 * i + 1] = hexdig[mac[i] & 15];
    }
    sig[LOADGEN_SIG_LEN] = '\0';
    return 0;
}

/* Pre-signed lines for wrk: a three-line header (app id, ts, body) and then n fixed-width lines
 * "<nonce> <signature>\n", so each wrk thread can seek straight to its own slice. */
static int presign(const struct options *o)
{
    char prefix[17];
    char ts[32];
    char nonce[LOADGEN_NONCE_LEN + 1];
    char sig[LOADGEN_SIG_LEN + 1];
    static char buf[1 << 20];
    if (nonce_prefix_init(prefix) != 0)
        goto fail;
    snprintf(ts, sizeof ts, "%lld", (long long)time(NULL) + o->ts_offset);
    setvbuf(stdout, buf, _IOFBF, sizeof buf);
    printf("%s\n%s\n%s\n", o->app_id, ts, o->body);
    for (long long i = 0; i < o->presign; i++) {
        snprintf(nonce, sizeof nonce, "%s%016llx", prefix, (unsigned long long)i);
        if (sign(o->secret, ts, nonce, o->body, sig) != 0)
            goto fail;
        printf("%s %s\n", nonce, sig);
    }
    if (fflush(stdout) != 0)
        goto fail;
    return 0;
fail:
    fprintf(stderr, "loadgen: presigning failed\n");
    return -1;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct slot *s = userp;
    size_t n = size * nmemb;
    size_t room = LOADGEN_BODY_KEEP - s->body_len;
    size_t take = n < room ? n : room;
    memcpy(s->body + s->body_len, data, take);
    s->body_len += take;
    return n;
}

static int slot_prepare(struct slot *s)
{
    const struct options *o = s->run->opt;
    struct curl_slist *h = NULL;
    char line[256];
    curl_slist_free_all(s->headers);
    s->headers = NULL;
    s->body_len = 0;
    if (o->body != NULL) {
        h = curl_slist_append(h, "content-type: application/json");
        /* curl would otherwise wait for 100-continue on larger HTTP/1.1 bodies. */
        h = curl_slist_append(h, "Expect:");
    }
    if (o->app_id != NULL) {
        char ts[32];
        char nonce[LOADGEN_NONCE_LEN + 1];
        char sig[LOADGEN_SIG_LEN + 1];
        snprintf(ts, sizeof ts, "%lld", (long long)time(NULL) + o->ts_offset);
        snprintf(nonce, sizeof nonce, "%s%016" PRIx64, s->run->nonce_prefix,
                 s->run->nonce_counter++);
        if (sign(o->secret, ts, nonce, o->body != NULL ? o->body : "", sig) != 0)
            goto fail;
        snprintf(line, sizeof line, "x-app-id: %s", o->app_id);
        h = curl_slist_append(h, line);
        snprintf(line, sizeof line, "x-ts: %s", ts);
        h = curl_slist_append(h, line);
        snprintf(line, sizeof line, "x-nonce: %s", nonce);
        h = curl_slist_append(h, line);
        snprintf(line, sizeof line, "x-signature: %s", sig);
        h = curl_slist_append(h, line);
    }
    s->headers = h;
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
    return 0;
fail:
    curl_slist_free_all(h);
    return -1;
}

static int slot_init(struct slot *s, struct run *r)
{
    const struct options *o = r->opt;
    s->run = r;
    s->easy = curl_easy_init();
    if (s->easy == NULL)
        return -1;
    curl_easy_setopt(s->easy, CURLOPT_URL, o->url);
    curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
    curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, o->timeout_ms);
    curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(s->easy, CURLOPT_HTTP_VERSION,
                     o->proto == LOADGEN_H2C ? r->http_version : (long)CURL_HTTP_VERSION_1_1);
    if (strcmp(o->method, "POST") == 0) {
        const char *body = o->body != NULL ? o->body : "";
        curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, body);
    }
    return 0;
}

static int slot_start(struct slot *s)
{
    struct run *r = s->run;
    if (slot_prepare(s) != 0)
        return -1;
    s->started = now_seconds();
    s->measured = !r->priming && s->started >= r->warm_end;
    if (s->measured)
        r->issued_measured++;
    if (curl_multi_add_handle(r->multi, s->easy) != CURLM_OK)
        return -1;
    r->active++;
    return 0;
}

static int run_should_issue(const struct run *r)
{
    double t = now_seconds();
    if (r->opt->requests > 0)
        return t < r->warm_end || r->issued_measured < r->opt->requests;
    return t < r->end;
}

static void record_latency(struct run *r, double seconds)
{
    if (r->nlat == r->caplat) {
        size_t cap = r->caplat ? r->caplat * 2 : 65536;
        uint32_t *p = realloc(r->lat_us, cap * sizeof *p);
        if (p == NULL) {
            fprintf(stderr, "loadgen: out of memory\n");
            exit(1);
        }
        r->lat_us = p;
        r->caplat = cap;
    }
    double us = seconds * 1e6;
    r->lat_us[r->nlat++] = us > 4e9 ? 4000000000u : (uint32_t)us;
}

static void slot_finish(struct slot *s, CURLcode rc)
{
    struct run *r = s->run;
    double done = now_seconds();
    long status = 0;
    long connects = 0;
    long version = 0;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(s->easy, CURLINFO_HTTP_VERSION, &version);
    curl_easy_getinfo(s->easy, CURLINFO_NUM_CONNECTS, &connects);
    r->connects += connects;
    curl_multi_remove_handle(r->multi, s->easy);
    r->active--;
    s->body[s->body_len] = '\0';
    if (!s->measured) {
        if (rc != CURLE_OK || status != 200)
            r->unmeasured_errors++;
        return;
    }
    /* In duration mode an answer that lands after the end is left out, like h2load and wrk do. */
    if (r->opt->requests <= 0 && done > r->end)
        return;
    const char *what = NULL;
    if (rc != CURLE_OK) {
        r->transport_errors++;
        what = curl_easy_strerror(rc);
    } else if (version !=
               (r->opt->proto == LOADGEN_H2C ? CURL_HTTP_VERSION_2_0 : CURL_HTTP_VERSION_1_1)) {
        /* A server that declined the upgrade would otherwise be measured under the wrong name. */
        r->wrong_protocol++;
        what = "protocol";
    } else if (status != 200) {
        r->non200++;
        what = "status";
    } else if (strstr(s->body, "\"error\"") != NULL) {
        r->rpc_errors++;
        what = "rpc";
    } else {
        record_latency(r, done - s->started);
    }
    if (what != NULL && !r->sampled_error) {
        r->sampled_error = 1;
        fprintf(stderr, "loadgen: first error (%s): HTTP %ld %.300s\n", what, status, s->body);
    }
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct run *r = userp;
    if (what == CURL_POLL_REMOVE) {
        /* curl may already have closed it; a failing DEL is harmless then. */
        epoll_ctl(r->epfd, EPOLL_CTL_DEL, fd, NULL);
        return 0;
    }
    struct epoll_event ev = {.data.fd = fd};
    if (what & CURL_POLL_IN)
        ev.events |= EPOLLIN;
    if (what & CURL_POLL_OUT)
        ev.events |= EPOLLOUT;
    if (epoll_ctl(r->epfd, EPOLL_CTL_MOD, fd, &ev) != 0 && errno == ENOENT)
        epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev);
    return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct run *r = userp;
    r->timer_at = timeout_ms < 0 ? -1.0 : now_seconds() + (double)timeout_ms / 1000.0;
    return 0;
}

static int run_drain_messages(struct run *r)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(r->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        char *priv = NULL;
        CURLcode rc = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        struct slot *s = (struct slot *)priv;
        slot_finish(s, rc);
        if (!r->priming && run_should_issue(r) && slot_start(s) != 0)
            return -1;
    }
    return 0;
}

/* Runs until no request is open; hard_stop bounds it (monotonic seconds). */
static int run_loop(struct run *r, double hard_stop)
{
    struct epoll_event evs[LOADGEN_EPOLL_BATCH];
    int running = 0;
    while (r->active > 0) {
        double t = now_seconds();
        if (t > hard_stop) {
            fprintf(stderr, "loadgen: %d requests still open at the drain bound\n", r->active);
            r->transport_errors += r->active;
            return 0;
        }
        int wait_ms = 100;
        if (r->timer_at >= 0) {
            double ms = (r->timer_at - t) * 1000.0;
            wait_ms = ms <= 0 ? 0 : ms < 100 ? (int)ms + 1 : 100;
        }
        int n = epoll_wait(r->epfd, evs, LOADGEN_EPOLL_BATCH, wait_ms);
        if (n < 0 && errno != EINTR)
            return -1;
        for (int i = 0; i < n; i++) {
            int action = 0;
            if (evs[i].events & EPOLLIN)
                action |= CURL_CSELECT_IN;
            if (evs[i].events & EPOLLOUT)
                action |= CURL_CSELECT_OUT;
            if (evs[i].events & (EPOLLERR | EPOLLHUP))
                action |= CURL_CSELECT_ERR;
            curl_multi_socket_action(r->multi, evs[i].data.fd, action, &running);
        }
        if (r->timer_at >= 0 && now_seconds() >= r->timer_at) {
            r->timer_at = -1.0;
            curl_multi_socket_action(r->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        if (run_drain_messages(r) != 0)
            return -1;
    }
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double percentile_ms(const struct run *r, double p)
{
    if (r->nlat == 0)
        return 0.0;
    size_t i = (size_t)(p / 100.0 * (double)(r->nlat - 1) + 0.5);
    return r->lat_us[i] / 1000.0;
}

static void report(struct run *r, double measured_seconds)
{
    const struct options *o = r->opt;
    qsort(r->lat_us, r->nlat, sizeof *r->lat_us, cmp_u32);
    long long errors = r->non200 + r->rpc_errors + r->transport_errors + r->wrong_protocol;
    long long requests = (long long)r->nlat + errors;
    printf("result proto=%s connections=%d streams=%d requests=%lld seconds=%.3f rps=%.1f "
           "p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f errors=%lld non200=%lld "
           "rpc_errors=%lld transport_errors=%lld wrong_protocol=%lld unmeasured_errors=%lld "
           "connects=%lld\n",
           o->proto == LOADGEN_H2C ? "h2c" : "http1.1", o->connections, o->streams, requests,
           measured_seconds, measured_seconds > 0 ? (double)requests / measured_seconds : 0.0,
           percentile_ms(r, 50), percentile_ms(r, 90), percentile_ms(r, 99),
           r->nlat ? r->lat_us[r->nlat - 1] / 1000.0 : 0.0, errors, r->non200, r->rpc_errors,
           r->transport_errors, r->wrong_protocol, r->unmeasured_errors, r->connects);
}

static int run_load(const struct options *o)
{
    struct run r = {.opt = o, .epfd = -1, .timer_at = -1.0};
    int rc = -1;
    /* libcurl before 8.0.0 breaks h2c prior knowledge as soon as a connection is reused ("Error
     * in the HTTP2 framing layer", curl issue 10634); there each connection starts with an
     * HTTP/1.1 Upgrade: h2c instead and carries HTTP/2 from its first answer on. */
    r.http_version = curl_version_info(CURLVERSION_NOW)->version_num >= 0x080000
                         ? (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
                         : (long)CURL_HTTP_VERSION_2_0;
    if (o->app_id != NULL && nonce_prefix_init(r.nonce_prefix) != 0)
        goto fail;
    r.epfd = epoll_create1(EPOLL_CLOEXEC);
    r.multi = curl_multi_init();
    if (r.epfd < 0 || r.multi == NULL)
        goto fail;
    curl_multi_setopt(r.multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(r.multi, CURLMOPT_SOCKETDATA, &r);
    curl_multi_setopt(r.multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(r.multi, CURLMOPT_TIMERDATA, &r);
    curl_multi_setopt(r.multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)o->connections);
    curl_multi_setopt(r.multi, CURLMOPT_MAXCONNECTS, (long)o->connections);
    if (o->proto == LOADGEN_H2C) {
        curl_multi_setopt(r.multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
        curl_multi_setopt(r.multi, CURLMOPT_MAX_CONCURRENT_STREAMS, (long)o->streams);
    } else {
        curl_multi_setopt(r.multi, CURLMOPT_PIPELINING, CURLPIPE_NOTHING);
    }
    r.nslots = o->connections * o->streams;
    r.slots = calloc((size_t)r.nslots, sizeof *r.slots);
    if (r.slots == NULL)
        goto fail;
    for (int i = 0; i < r.nslots; i++) {
        if (slot_init(&r.slots[i], &r) != 0)
            goto fail;
    }
    /* Open every connection with one request first: with the Upgrade start, libcurl 7.88 breaks
     * streams it queues on a connection whose upgrade is still under way. After this round each
     * connection speaks HTTP/2 and the full load only ever multiplexes onto them. */
    r.priming = 1;
    for (int i = 0; i < o->connections; i++) {
        if (slot_start(&r.slots[i]) != 0)
            goto fail;
    }
    if (run_loop(&r, now_seconds() + (double)o->timeout_ms / 1000.0 + 1.0) != 0)
        goto fail;
    if (r.unmeasured_errors > 0) {
        fprintf(stderr, "loadgen: %lld of %d first requests failed; no load run\n",
                r.unmeasured_errors, o->connections);
        goto fail;
    }
    r.priming = 0;
    double start = now_seconds();
    r.warm_end = start + o->warmup;
    r.end = r.warm_end + o->duration;
    for (int i = 0; i < r.nslots; i++) {
        if (slot_start(&r.slots[i]) != 0)
            goto fail;
    }
    if (run_loop(&r, (o->requests > 0 ? 1e18 : r.end) + LOADGEN_DRAIN_SECONDS) != 0)
        goto fail;
    double finished = now_seconds();
    double measured;
    if (o->requests > 0)
        measured = finished - (start > r.warm_end ? start : r.warm_end);
    else
        measured = o->duration;
    report(&r, measured);
    rc = 0;
fail:
    if (rc != 0)
        fprintf(stderr, "loadgen: the run failed\n");
    for (int i = 0; r.slots != NULL && i < r.nslots; i++) {
        if (r.slots[i].easy != NULL) {
            curl_multi_remove_handle(r.multi, r.slots[i].easy);
            curl_easy_cleanup(r.slots[i].easy);
        }
        curl_slist_free_all(r.slots[i].headers);
    }
    free(r.slots);
    if (r.multi != NULL)
        curl_multi_cleanup(r.multi);
    if (r.epfd >= 0)
        close(r.epfd);
    free(r.lat_us);
    return rc;
}

int main(int argc, char **argv)
{
    struct options o;
    int rc = 1;
    if (parse_options(argc, argv, &o) != 0)
        return 2;
    if (o.presign > 0) {
        rc = presign(&o) == 0 ? 0 : 1;
        goto out;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        goto out;
    printf("loadgen url=%s proto=%s connections=%d streams=%d %s=%g warmup=%g method=%s "
           "signed=%s curl=%s\n",
           o.url,
           o.proto == LOADGEN_HTTP1                                      ? "http1.1"
           : curl_version_info(CURLVERSION_NOW)->version_num >= 0x080000 ? "h2c(prior-knowledge)"
                                                                         : "h2c(upgrade)",
           o.connections, o.streams, o.requests > 0 ? "requests" : "duration",
           o.requests > 0 ? (double)o.requests : o.duration, o.warmup, o.method,
           o.app_id != NULL ? "yes" : "no", curl_version_info(CURLVERSION_NOW)->version);
    fflush(stdout);
    rc = run_load(&o) == 0 ? 0 : 1;
    curl_global_cleanup();
out:
    free(o.app_id);
    return rc;
}
