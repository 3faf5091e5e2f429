/* Fuzz target for every method's params: the input is one JSON document, used as the params object
 * of each method in turn (tip.create, tip.status, tip.settled_feed, dashboard.summary,
 * withdrawal.quote / request / status), through the same pure parsers the handlers call. Each
 * verdict is checked: an accepted params object must leave every required field set and within
 * its bounds, a refusal must name a field and say why. A broken promise aborts, so the fuzzer
 * reports it; LeakSanitizer catches a copy a parser forgot to free. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/asset.h"
#include "core/ids.h"
#include "core/jsonrpc.h"
#include "handlers/dashboard.h"
#include "handlers/feed.h"
#include "handlers/tips.h"
#include "handlers/withdrawals.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The USDI script of the simulator's test network; any well-formed script would do. */
static const char USDI_SCRIPT[] =
    "{\"code_hash\":\"0x1142755a044bf2ee358cba9f2da187ce928c91cd4dc8692ded0337efa677d21a\","
    "\"hash_type\":\"type\",\"args\":\"0x878fcc6f1f08d48e87bb1c3b3d5083f23f8a39c5d5c764f253b55b998"
    "526439b\"}";

static void check(int ok)
{
    if (!ok)
        abort();
}

/* Length in characters (UTF-8 code points), as the params helpers count. */
static int len_within(const char *s, size_t min, size_t max)
{
    if (s == NULL)
        return 0;
    size_t n = jsonrpc_utf8_chars(s, strlen(s));
    return n >= min && n <= max;
}

static int one_of(const char *s, const char *const *allowed)
{
    for (; s != NULL && *allowed != NULL; allowed++)
        if (strcmp(s, *allowed) == 0)
            return 1;
    return 0;
}

/* A refusal names one of the fields the method reads and carries a message. */
static void check_refusal(const struct jsonrpc_param_error *pe, const char *const *fields)
{
    check(pe->field != NULL && pe->field[0] != '\0' && one_of(pe->field, fields));
    check(pe->message[0] != '\0' && memchr(pe->message, '\0', sizeof pe->message) != NULL);
}

static void reset(struct jsonrpc_param_error *pe)
{
    pe->field = NULL;
    memset(pe->message, 0, sizeof pe->message);
}

static int asset_valid(const struct asset_table *t, const struct asset *a)
{
    return a == &t->ckb || (a == &t->usdi && t->usdi_enabled);
}

static void fuzz_tip_create(json_t *params, const struct asset_table *assets)
{
    static const char *const fields[] = {"postId",  "fromUserId",      "toUserId",
                                         "asset",   "amount",          "message",
                                         "topicId", "clientRequestId", NULL};
    struct tip_create_params p;
    struct jsonrpc_param_error pe;
    const char *reason = "unset";
    reset(&pe);
    if (tips_parse_create(params, assets, &p, &pe, &reason) != 0) {
        check_refusal(&pe, fields);
        check(reason == NULL ||
              (strcmp(reason, "ASSET_NOT_ALLOWED") == 0 && strcmp(pe.field, "asset") == 0) ||
              (strcmp(reason, "SELF_TIP") == 0 && strcmp(pe.field, "toUserId") == 0));
        /* "nothing to dispose after a failure" */
        check(p.message == NULL);
        return;
    }
    check(reason == NULL);
    check(asset_valid(assets, p.asset) && p.amount > 0);
    check(len_within(p.post_id, 1, 128) && len_within(p.from_user_id, 1, 128) &&
          len_within(p.to_user_id, 1, 128));
    check(strcmp(p.from_user_id, p.to_user_id) != 0);
    check(p.topic_id == NULL || len_within(p.topic_id, 1, 128));
    check(p.client_request_id == NULL || len_within(p.client_request_id, 1, 128));
    if (p.message != NULL) {
        size_t n = strlen(p.message);
        check(n > 0 && !isspace((unsigned char)p.message[0]) &&
              !isspace((unsigned char)p.message[n - 1]));
        check(jsonrpc_utf8_chars(p.message, n) <= 280);
    }
    tips_create_params_dispose(&p);
    check(p.message == NULL);
}

static void fuzz_tip_status(json_t *params)
{
    static const char *const fields[] = {"invoice", "tipId", NULL};
    struct jsonrpc_param_error pe;
    const char *invoice = "unset", *tip_id = "unset";
    reset(&pe);
    if (tips_parse_status(params, &invoice, &tip_id, &pe) != 0) {
        check_refusal(&pe, fields);
        return;
    }
    if (invoice != NULL)
        check(len_within(invoice, 1, 4096));
    else
        check(len_within(tip_id, IDS_UUID_LEN, IDS_UUID_LEN) && ids_uuid_valid(tip_id));
}

static void fuzz_feed(json_t *params)
{
    static const char *const fields[] = {"limit", "after", "after.settledAt", "after.id", NULL};
    struct jsonrpc_param_error pe;
    struct feed_cursor after = {0};
    int64_t limit = -1;
    int present = -1;
    reset(&pe);
    /* The handler's order: limit, then the cursor. */
    if (jsonrpc_param_opt_int(params, "limit", 1, FEED_LIMIT_MAX, FEED_LIMIT_DEFAULT, &limit,
                              &pe) != 0 ||
        feed_parse_after(params, &after, &present, &pe) != 0) {
        check_refusal(&pe, fields);
        return;
    }
    check(limit >= 1 && limit <= FEED_LIMIT_MAX);
    check(present == 0 || present == 1);
    json_t *a = json_object_get(params, "after");
    if (!present) {
        check(a == NULL || json_is_null(a));
        return;
    }
    /* Shortest "YYYY-MM-DDTHH:MM:SSZ", longest with nine fraction digits and an offset. */
    check(feed_timestamp_valid(after.settled_at) && len_within(after.settled_at, 20, 35));
    check(ids_uuid_valid(after.id) && strlen(after.id) == IDS_UUID_LEN);
}

static void fuzz_dashboard(json_t *params)
{
    static const char *const fields[] = {"userId",
                                         "limit",
                                         "includeAdmin",
                                         "filters",
                                         "filters.withdrawalState",
                                         "filters.settlementState",
                                         NULL};
    static const char *const settlement[] = {"ALL", "UNPAID", "SETTLED", "FAILED", NULL};
    static const char *const withdrawal[] = {
        "ALL",       "PENDING", "PROCESSING", "RETRY_PENDING", "LIQUIDITY_PENDING",
        "COMPLETED", "FAILED",  NULL};
    struct dashboard_params p;
    struct jsonrpc_param_error pe;
    reset(&pe);
    if (dashboard_parse_params(params, &p, &pe) != 0) {
        check_refusal(&pe, fields);
        return;
    }
    check(len_within(p.user_id, 1, DASHBOARD_USER_ID_MAX));
    check(p.limit >= 1 && p.limit <= DASHBOARD_LIMIT_MAX);
    check(p.include_admin == 0 || p.include_admin == 1);
    check(one_of(p.settlement_state, settlement) && one_of(p.withdrawal_state, withdrawal));
}

/* Returns 1 when the params were accepted. */
static int fuzz_withdrawal(json_t *params, const struct asset_table *assets, int quote)
{
    static const char *const fields[] = {"userId",
                                         "asset",
                                         "amount",
                                         "destination",
                                         "destination.kind",
                                         "destination.paymentRequest",
                                         "destination.address",
                                         "toAddress",
                                         "clientRequestId",
                                         NULL};
    struct withdrawal_params p;
    struct jsonrpc_param_error pe;
    const char *reason = "unset";
    reset(&pe);
    if (withdrawals_parse_params(params, assets, quote, &p, &pe, &reason) != 0) {
        check_refusal(&pe, fields);
        check(reason == NULL ||
              (strcmp(reason, "ASSET_NOT_ALLOWED") == 0 && strcmp(pe.field, "asset") == 0));
        check(!quote || strcmp(pe.field, "clientRequestId") != 0);
        return 0;
    }
    check(reason == NULL);
    check(len_within(p.user_id, 1, 128) && asset_valid(assets, p.asset) && p.amount > 0);
    check(p.dest_field != NULL &&
          (strcmp(p.dest_field, "destination") == 0 || strcmp(p.dest_field, "toAddress") == 0));
    if (p.dest_kind == WITHDRAWAL_DEST_CKB_ADDRESS)
        check(len_within(p.dest, 1, strcmp(p.dest_field, "toAddress") == 0 ? 4096 : 1024));
    else
        check(p.dest_kind == WITHDRAWAL_DEST_PAYMENT_REQUEST && len_within(p.dest, 1, 4096));
    if (quote)
        check(p.client_request_id == NULL);
    else
        check(p.client_request_id == NULL || len_within(p.client_request_id, 1, 128));
    return 1;
}

static void fuzz_withdrawal_status(json_t *params)
{
    static const char *const fields[] = {"id", NULL};
    struct jsonrpc_param_error pe;
    const char *id = "unset";
    reset(&pe);
    if (withdrawals_parse_status(params, &id, &pe) != 0) {
        check_refusal(&pe, fields);
        return;
    }
    check(len_within(id, IDS_UUID_LEN, IDS_UUID_LEN) && ids_uuid_valid(id));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct asset_table with_usdi, ckb_only;
    static int ready;
    if (!ready) {
        if (asset_table_init(&with_usdi, USDI_SCRIPT, 6) != 0 ||
            asset_table_init(&ckb_only, NULL, 6) != 0 || !with_usdi.usdi_enabled)
            abort();
        ready = 1;
    }
    /* Loaded as jsonrpc_parse loads a body; the envelope hands methods an object only. */
    json_t *params = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!json_is_object(params)) {
        json_decref(params);
        return 0;
    }
    fuzz_tip_create(params, &with_usdi);
    fuzz_tip_create(params, &ckb_only);
    fuzz_tip_status(params);
    fuzz_feed(params);
    fuzz_dashboard(params);
    for (int i = 0; i < 2; i++) {
        const struct asset_table *assets = i == 0 ? &with_usdi : &ckb_only;
        /* A request checks everything a quote checks, and clientRequestId besides. */
        int quote_ok = fuzz_withdrawal(params, assets, 1);
        int request_ok = fuzz_withdrawal(params, assets, 0);
        check(quote_ok || !request_ok);
    }
    fuzz_withdrawal_status(params);
    json_decref(params);
    return 0;
}
