/* Unit tests for the /rpc authentication checks (handlers/auth.c): header bounds, the timestamp
 * window and the signature, against a signature computed independently with OpenSSL here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "handlers/auth.h"

static const char SECRET[] = "s3cret-s3cret-s3cret";
static const char BODY[] =
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"health.ping\",\"params\":{}}";

static void reference_sign(const char *ts, const char *nonce, const char *body, char out[65])
{
    char msg[512];
    int n = snprintf(msg, sizeof msg, "%s.%s.%s", ts, nonce, body);
    unsigned char mac[32];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (unsigned char *)msg, (size_t)n, mac, &maclen);
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", mac[i]);
}

static struct auth_headers headers(const char *app, const char *ts, const char *nonce,
                                   const char *sig)
{
    struct auth_headers h = {app,   app ? strlen(app) : 0,     ts,  ts ? strlen(ts) : 0,
                             nonce, nonce ? strlen(nonce) : 0, sig, sig ? strlen(sig) : 0};
    return h;
}

static void test_sign_matches_reference(void **state)
{
    char ours[65], ref[65];
    auth_sign(SECRET, strlen(SECRET), "1700000000", 10, "abc", 3, BODY, strlen(BODY), ours);
    reference_sign("1700000000", "abc", BODY, ref);
    assert_string_equal(ours, ref);
}

static void test_headers_missing_and_bounds(void **state)
{
    int64_t ts;
    char sig[65] = "00";
    assert_int_equal(auth_check_headers(&(struct auth_headers){0}, 1000, &ts), AUTH_MISSING_HEADER);
    struct auth_headers h = headers("app", "1000", "n", sig);
    assert_int_equal(auth_check_headers(&h, 1000, &ts), AUTH_OK);
    assert_int_equal(ts, 1000);
    h = headers("app", NULL, "n", sig);
    assert_int_equal(auth_check_headers(&h, 1000, &ts), AUTH_MISSING_HEADER);
    h = headers("app", "1000", "", sig);
    assert_int_equal(auth_check_headers(&h, 1000, &ts), AUTH_MISSING_HEADER);
    h = headers("app", "1000", "n", NULL);
    assert_int_equal(auth_check_headers(&h, 1000, &ts), AUTH_MISSING_HEADER);
    char nonce[AUTH_NONCE_MAX + 2];
    memset(nonce, 'n', sizeof nonce - 1);
    nonce[sizeof nonce - 1] = '\0';
    h = headers("app", "1000", nonce, sig);
    assert_int_equal(auth_check_headers(&h, 1000, &ts), AUTH_MISSING_HEADER);
    nonce[AUTH_NONCE_MAX] = '\0'; /* exactly the bound is fine */
    h = headers("app", "1000", nonce, sig);
    assert_int_equal(auth_check_headers(&h, 1000, &ts), AUTH_OK);
}

static void test_timestamp_window(void **state)
{
    int64_t ts;
    struct auth_headers h = headers("app", "1300", "n", "x");
    assert_int_equal(auth_check_headers(&h, 1000, &ts), AUTH_OK);
    h = headers("app", "1301", "n", "x");
    assert_int_equal(auth_check_headers(&h, 1000, &ts), AUTH_STALE);
    h = headers("app", "700", "n", "x");
    assert_int_equal(auth_check_headers(&h, 1000, &ts), AUTH_OK);
    h = headers("app", "699", "n", "x");
    assert_int_equal(auth_check_headers(&h, 1000, &ts), AUTH_STALE);
    const char *bad[] = {"-1000", "1e3", " 1000", "1000.0", "0x3e8", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        h = headers("app", bad[i], "n", "x");
        assert_int_equal(auth_check_headers(&h, 1000, &ts), AUTH_BAD_TIMESTAMP);
    }
}

static void test_signature(void **state)
{
    char sig[65];
    reference_sign("1000", "nonce-1", BODY, sig);
    struct auth_headers h = headers("app", "1000", "nonce-1", sig);
    assert_int_equal(auth_check_signature(&h, SECRET, strlen(SECRET), BODY, strlen(BODY)), AUTH_OK);
    /* another body, nonce, timestamp or secret each break it */
    assert_int_equal(auth_check_signature(&h, SECRET, strlen(SECRET), BODY, strlen(BODY) - 1),
                     AUTH_BAD_SIGNATURE);
    assert_int_equal(auth_check_signature(&h, "other", 5, BODY, strlen(BODY)), AUTH_BAD_SIGNATURE);
    h = headers("app", "1001", "nonce-1", sig);
    assert_int_equal(auth_check_signature(&h, SECRET, strlen(SECRET), BODY, strlen(BODY)),
                     AUTH_BAD_SIGNATURE);
    h = headers("app", "1000", "nonce-2", sig);
    assert_int_equal(auth_check_signature(&h, SECRET, strlen(SECRET), BODY, strlen(BODY)),
                     AUTH_BAD_SIGNATURE);
    /* uppercase hex of the right MAC is refused: the contract says lowercase */
    char upper[65];
    for (int i = 0; i < 65; i++)
        upper[i] = (char)(sig[i] >= 'a' && sig[i] <= 'f' ? sig[i] - 32 : sig[i]);
    h = headers("app", "1000", "nonce-1", upper);
    assert_int_equal(auth_check_signature(&h, SECRET, strlen(SECRET), BODY, strlen(BODY)),
                     AUTH_BAD_SIGNATURE);
    /* truncated */
    sig[63] = '\0';
    h = headers("app", "1000", "nonce-1", sig);
    assert_int_equal(auth_check_signature(&h, SECRET, strlen(SECRET), BODY, strlen(BODY)),
                     AUTH_BAD_SIGNATURE);
}

static struct apps_secrets secrets(const char *current, const char *previous, double retires_at)
{
    struct apps_secrets s = {.found = 1, .previous_retires_at = retires_at};
    snprintf(s.secret, sizeof s.secret, "%s", current);
    snprintf(s.previous, sizeof s.previous, "%s", previous != NULL ? previous : "");
    return s;
}

static const struct apps_secrets unknown = {0};

/* Finding 5: the negative cache must keep taking new unknown ids (evicting the least recently
 * used) rather than stop growing at its bound, and unknown ids must never evict a real app. */
static void test_app_cache_evicts_unknown_ids(void **state)
{
    (void)state;
    struct app_cache *c = app_cache_new(NULL, NULL, APP_CACHE_MAX_ENTRIES, 50);
    const struct apps_secrets *s = NULL;
    double now = 1000.0;
    struct apps_secrets forum1 = secrets(SECRET, NULL, 0);
    app_cache_store(c, "forum1", &forum1, now);
    char id[32];
    for (int i = 0; i < APP_CACHE_MAX_ENTRIES + 500; i++) {
        snprintf(id, sizeof id, "ghost-%d", i);
        app_cache_store(c, id, &unknown, now);
        /* The id just looked up is cached, whatever came before it. */
        assert_int_equal(app_cache_peek(c, id, now, &s), 1);
        assert_int_equal(s->found, 0);
        assert_true(app_cache_count(c) <= 2 * (size_t)APP_CACHE_MAX_ENTRIES);
    }
    /* The oldest unknown ids made room; the real app did not. */
    assert_int_equal(app_cache_peek(c, "ghost-0", now, &s), 0);
    assert_int_equal(app_cache_peek(c, "forum1", now, &s), 1);
    assert_int_equal(s->found, 1);
    assert_string_equal(s->secret, SECRET);
    /* A recently used unknown id survives the next wave of evictions (least recently used). */
    snprintf(id, sizeof id, "ghost-%d", 600);
    assert_int_equal(app_cache_peek(c, id, now, &s), 1);
    for (int i = 0; i < APP_CACHE_MAX_ENTRIES - 1; i++) {
        char other[32];
        snprintf(other, sizeof other, "wave-%d", i);
        app_cache_store(c, other, &unknown, now);
    }
    assert_int_equal(app_cache_peek(c, id, now, &s), 1);
    assert_int_equal(app_cache_peek(c, "ghost-601", now, &s), 0);
    /* Entries still expire: unknown after 5 s, found after 60 s. */
    assert_int_equal(app_cache_peek(c, id, now + 6, &s), 0);
    assert_int_equal(app_cache_peek(c, "forum1", now + 6, &s), 1);
    assert_int_equal(app_cache_peek(c, "forum1", now + 61, &s), 0);
    app_cache_free(c);
}

/* Signs BODY with secret at ts 1000 and checks it against the app's secrets at time now. */
static enum auth_result check_with(const char *signing_secret, const struct apps_secrets *s,
                                   double now)
{
    char sig[65];
    auth_sign(signing_secret, strlen(signing_secret), "1000", 4, "n1", 2, BODY, strlen(BODY), sig);
    struct auth_headers h = headers("app", "1000", "n1", sig);
    return auth_check_app_signature(&h, s, now, BODY, strlen(BODY));
}

/* During a rotation both secrets pass while now < previousRetiresAt; only the new one after. */
static void test_rotation_overlap(void **state)
{
    const char *old = "old-secret-0123456789", *new = "new-secret-0123456789";
    struct apps_secrets plain = secrets(old, NULL, 0);
    assert_int_equal(check_with(old, &plain, 5000), AUTH_OK);
    assert_int_equal(check_with(new, &plain, 5000), AUTH_BAD_SIGNATURE);

    struct apps_secrets rot = secrets(new, old, 2000.0);
    assert_int_equal(check_with(new, &rot, 1000), AUTH_OK);
    assert_int_equal(check_with(old, &rot, 1000), AUTH_OK);
    assert_int_equal(check_with(old, &rot, 1999.999), AUTH_OK);
    /* at and after the retire time: the old one is refused, the new one still passes */
    assert_int_equal(check_with(old, &rot, 2000.0), AUTH_BAD_SIGNATURE);
    assert_int_equal(check_with(old, &rot, 2500), AUTH_BAD_SIGNATURE);
    assert_int_equal(check_with(new, &rot, 2500), AUTH_OK);
    /* a third secret never passes */
    assert_int_equal(check_with("third-secret-0123456789", &rot, 1000), AUTH_BAD_SIGNATURE);
}

/* A rotating app's entry lives APP_CACHE_TTL_ROTATING (so finish_rotation on another daemon is
 * seen within seconds); others keep their TTL. */
static void test_app_cache_rotating_ttl(void **state)
{
    struct app_cache *c = app_cache_new(NULL, NULL, 100, 50);
    const struct apps_secrets *s = NULL;
    double now = 1000.0;
    struct apps_secrets rot = secrets("new-secret-0123456789", "old-secret-0123456789", now + 3600);
    struct apps_secrets plain = secrets("plain-secret-0123456789", NULL, 0);
    app_cache_store(c, "rotating", &rot, now);
    app_cache_store(c, "plain", &plain, now);
    assert_int_equal(app_cache_peek(c, "rotating", now + APP_CACHE_TTL_ROTATING - 0.1, &s), 1);
    assert_string_equal(s->previous, "old-secret-0123456789");
    assert_true(s->previous_retires_at == now + 3600);
    assert_int_equal(app_cache_peek(c, "rotating", now + APP_CACHE_TTL_ROTATING, &s), 0);
    assert_int_equal(app_cache_peek(c, "plain", now + APP_CACHE_TTL_ROTATING + 1, &s), 1);
    /* The rotation finished: stored again without a previous secret, the long TTL is back. */
    app_cache_store(c, "rotating", &plain, now + 10);
    assert_int_equal(app_cache_peek(c, "rotating", now + 10 + APP_CACHE_TTL_FOUND - 1, &s), 1);
    assert_string_equal(s->previous, "");
    app_cache_free(c);
}

/* app_caches_forget drops the entry from every cache of the process at once. */
static void test_app_caches_forget(void **state)
{
    struct app_cache *a = app_cache_new(NULL, NULL, 100, 50),
                     *b = app_cache_new(NULL, NULL, 100, 50);
    const struct apps_secrets *s = NULL;
    struct apps_secrets one = secrets(SECRET, NULL, 0);
    app_cache_store(a, "forum1", &one, 1000);
    app_cache_store(b, "forum1", &one, 1000);
    app_cache_store(b, "forum2", &one, 1000);
    app_caches_forget("forum1");
    assert_int_equal(app_cache_peek(a, "forum1", 1000, &s), 0);
    assert_int_equal(app_cache_peek(b, "forum1", 1000, &s), 0);
    assert_int_equal(app_cache_peek(b, "forum2", 1000, &s), 1);
    assert_int_equal(app_cache_count(a), 0);
    app_cache_free(a);
    /* a freed cache is off the list: forgetting again touches only b */
    app_caches_forget("forum2");
    assert_int_equal(app_cache_count(b), 0);
    app_cache_free(b);
}

static void never_called(void *ctx, enum pg_outcome outcome, const struct apps_secrets *s)
{
    fail();
}

/* A signature matching no cached secret re-reads a real app at most once per interval; unknown
 * ids and apps not cached never get a query this way. (The query itself is not started here:
 * no pool, so only the refusals are exercised.) */
static void test_app_cache_recheck_bounds(void **state)
{
    struct app_cache *c = app_cache_new(NULL, NULL, 100, 50);
    struct apps_secrets one = secrets(SECRET, NULL, 0);
    app_cache_store(c, "ghost", &unknown, 1000);
    assert_int_equal(app_cache_recheck(c, "ghost", 1000, never_called, NULL), APP_CACHE_HIT);
    assert_int_equal(app_cache_recheck(c, "never-seen", 1000, never_called, NULL), APP_CACHE_HIT);
    app_cache_store(c, "forum1", &one, 1000);
    struct app_cache_stats st = app_cache_stats(c);
    assert_int_equal(st.lookups, 0);
    app_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_matches_reference),
        cmocka_unit_test(test_headers_missing_and_bounds),
        cmocka_unit_test(test_timestamp_window),
        cmocka_unit_test(test_signature),
        cmocka_unit_test(test_app_cache_evicts_unknown_ids),
        cmocka_unit_test(test_rotation_overlap),
        cmocka_unit_test(test_app_cache_rotating_ttl),
        cmocka_unit_test(test_app_caches_forget),
        cmocka_unit_test(test_app_cache_recheck_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
