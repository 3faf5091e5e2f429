/* Daemon settings: defaults, then a `key = value` file (--config FILE), then FIBERLINK_<KEY>
 * environment variables (upper snake case of the key) win. Unknown keys and bad values are
 * refused with a message naming them. */
#ifndef FL_CONFIG_H
#define FL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_LISTEN 8

struct config {
    char *listen[CONFIG_MAX_LISTEN]; /* "listen": comma-separated host:port list; default
                                        "127.0.0.1:3000" */
    int nlisten;
    char *tls_cert; /* "tls_cert": PEM path; with tls_key enables TLS + h2 ALPN on all listeners */
    char *tls_key;  /* "tls_key" */
    char *database_url; /* "database_url": libpq URL/conninfo; default "postgresql:///fiberlink" */
    int db_pool_size;   /* "db_pool_size": 1..64, default 4 */
    int db_query_timeout_ms; /* "db_query_timeout_ms": 100..600000, default 5000 */
    char *fnn_rpc_url;       /* "fnn_rpc_url": default "http://127.0.0.1:8227" */
    char *fnn_rpc_token;     /* "fnn_rpc_token": optional Biscuit bearer token (secret) */
    int fnn_timeout_ms;      /* "fnn_timeout_ms": 100..600000, default 5000 */
    int fnn_max_connections; /* "fnn_max_connections": TCP connections to the node at once, 1..1024,
                                default 64 */
    int fnn_max_inflight; /* "fnn_max_inflight": node calls of API requests in flight, 1..1000000,
                             default 256 */
    int db_max_pending;  /* "db_max_pending": queries of API requests queued or running, 1..1000000,
                            default 4096 */
    int app_lookup_rate; /* "app_lookup_rate": lookups per second of app ids not known to be
                            apps, 1..100000, default 50 */
    char *fnn_currency;  /* "fnn_currency": Fibb | Fibt | Fibd, default Fibt */
    char *preimage_key; /* "preimage_key": server secret ≥ 16 bytes (secret; required by serve) */
    /* "secrets_key": 64 hex digits (secret, optional): the key app and webhook secrets are sealed
     * with (core/seal.h); unset: derived from preimage_key. "secrets_key_previous": the same, the
     * key before a rotation of secrets_key; values sealed with it are opened and sealed again. */
    char *secrets_key;
    char *secrets_key_previous;
    int invoice_expiry;    /* "invoice_expiry": seconds, 60..2592000, default 3600 */
    size_t max_body_bytes; /* "max_body_bytes": 1024..16777216, default 65536 */
    int rate_limit; /* "rate_limit": requests per app+method per window, 1..1000000000, default 300
                     */
    int rate_limit_window; /* "rate_limit_window": seconds, 1..86400, default 60 */
    /* failed /admin/rpc logins per source address per window (handlers/admin.c) */
    int admin_login_failures; /* "admin_login_failures": 1..1000000, default 10 */
    int admin_login_window;   /* "admin_login_window": seconds, 1..86400, default 60 */
    char
        *usdi_udt_type_script_json; /* "usdi_udt_type_script_json":
                                       {"code_hash","hash_type","args"}; empty = USDI not allowed */
    int usdi_decimals;              /* "usdi_decimals": 0..18, default 6 */
    char *log_level;                /* "log_level": debug|info|warn|error, default info */
    char *nonce_store;    /* "nonce_store": memory (default) | postgres (shared by several daemons,
                             storage/nonces.h) */
    int nonce_memory_max; /* "nonce_memory_max": live nonces the memory store keeps,
                             1000..100000000, default 1000000 */
    int shutdown_timeout_ms;   /* "shutdown_timeout_ms": drain bound on SIGTERM, 0..600000, default
                                  10000 */
    int tip_status_timeout_ms; /* "tip_status_timeout_ms": node check bound in tip.status,
                                  100..60000, default 2000 */
    /* HTTP connection limits (core/http.c): what the daemon enforces beyond h2o's own checks */
    int max_connections; /* "max_connections": client connections at once, 1..1000000, default 16384
                            (also capped by RLIMIT_NOFILE) */
    int http1_request_timeout_ms; /* "http1_request_timeout_ms": to receive a whole HTTP/1.1 request
                                     (and between keep-alive requests), 100..3600000, default 10000
                                   */
    int http2_idle_timeout_ms; /* "http2_idle_timeout_ms": an HTTP/2 connection with no request in
                                  progress is closed after this, 100..3600000, default 10000 */
    int handshake_timeout_ms;  /* "handshake_timeout_ms": TLS handshake bound, 100..3600000, default
                                  10000 */
    int http2_max_concurrent_streams; /* "http2_max_concurrent_streams": requests of one HTTP/2
                                         connection processed at once, 1..1000, default 100 */
    int max_abandoned_requests; /* "max_abandoned_requests": requests one connection may abandon
                                   (reset) before their answer before it is cut, 0 (no
                                   limit)..1000000, default 100 */
    /* invoice poller (timers/poller.c) */
    int poll_interval_ms;  /* "poll_interval_ms": how often due tips are claimed, 10..60000, default
                              250 */
    int poll_min_delay_ms; /* "poll_min_delay_ms": first re-check delay of an open tip, 100..600000,
                              default 1000 */
    int poll_max_delay_ms; /* "poll_max_delay_ms": cap of the age-based back-off, 100..3600000,
                              default 30000 */
    int poll_batch;        /* "poll_batch": tips claimed per run, 1..10000, default 200 */
    int poll_max_inflight; /* "poll_max_inflight": node calls in flight for polling, 1..1024,
                              default 32 */
    int poll_lease_ms; /* "poll_lease_ms": claim lease (other daemons skip the tip), 1000..600000,
                          default 30000 */
    /* withdrawals: policy defaults for apps without a withdrawal_policies row (amounts are decimal
     * strings in whole units of each asset), and the runner (timers/withdrawals.c) */
    char *withdraw_assets; /* "withdraw_assets": comma list of assets withdrawable by default,
                              default "CKB,USDI" */
    char *withdraw_min;    /* "withdraw_min": minimum per request, default "1" */
    char *withdraw_max_per_request; /* "withdraw_max_per_request": default "100000" */
    char
        *withdraw_user_daily; /* "withdraw_user_daily": per user, rolling 24 h, default "1000000" */
    char *withdraw_app_daily; /* "withdraw_app_daily": per app, rolling 24 h, default "100000000" */
    int withdraw_cooldown_seconds; /* "withdraw_cooldown_seconds": between a user's withdrawals,
                                      0..2592000, default 0 */
    char *withdraw_max_fee; /* "withdraw_max_fee": absolute routing fee cap per payment, default "1"
                             */
    int withdraw_max_fee_ppm;  /* "withdraw_max_fee_ppm": fee cap as parts per million of the amount
                                  (the lesser cap wins), 0..1000000, default 5000 (0.5 %) */
    int withdraw_retry_budget; /* "withdraw_retry_budget": retries after transient trouble, 0..1000,
                                  default 5 */
    int withdraw_retry_base_ms;   /* "withdraw_retry_base_ms": first retry delay, doubling, default
                                     2000 */
    int withdraw_retry_max_ms;    /* "withdraw_retry_max_ms": retry delay cap, default 300000 */
    int withdraw_interval_ms;     /* "withdraw_interval_ms": runner claim interval, default 500 */
    int withdraw_batch;           /* "withdraw_batch": withdrawals claimed per run, default 50 */
    int withdraw_lease_ms;        /* "withdraw_lease_ms": claim lease, default 60000 */
    int withdraw_payment_poll_ms; /* "withdraw_payment_poll_ms": get_payment polling interval,
                                     default 500 */
    /* on-chain CKB withdrawals (timers/onchain.c); off unless ckb_rpc_url and the key file are set
     */
    char *ckb_rpc_url; /* "ckb_rpc_url": CKB node JSON-RPC (with the indexer), http://host:port;
                          empty (default) = address withdrawals refused */
    char *ckb_network; /* "ckb_network": mainnet | testnet | devnet, default testnet (address prefix
                          ckb / ckt) */
    char *ckb_hot_wallet_key_file; /* "ckb_hot_wallet_key_file": 32-byte secp256k1 key as hex, file
                                      mode 0600; empty (default) = refused */
    int ckb_fee_rate; /* "ckb_fee_rate": shannons per 1000 bytes, 1000..100000000, default 1000 */
    int ckb_confirmations;     /* "ckb_confirmations": blocks (a tx in block b has tip - b +
                                  1), 1..10000, default 24 */
    int ckb_batch_interval_ms; /* "ckb_batch_interval_ms": due address withdrawals are batched this
                                  often, 10..3600000, default 2000 */
    int ckb_batch_max;  /* "ckb_batch_max": payout outputs per transaction, 1..1000, default 100 */
    int ckb_timeout_ms; /* "ckb_timeout_ms": CKB node call deadline, 100..600000, default 5000 */
    int ckb_poll_ms;    /* "ckb_poll_ms": get_transaction polling of broadcast
                           transactions, 10..600000, default 1000 */
    int ckb_lease_ms;   /* "ckb_lease_ms": lease on a batch or a transaction being followed,
                           1000..3600000, default 60000 */
};

/* Fills defaults. */
void config_init(struct config *c);
/* Applies one setting; returns 0, or -1 with a message naming the key/value in err. */
int config_set(struct config *c, const char *key, const char *value, char *err, size_t errsz);
/* Reads `key = value` lines ('#' comments, blank lines, optional quotes around value). */
int config_load_file(struct config *c, const char *path, char *err, size_t errsz);
/* The same for file contents already in memory: buf[0..len) need not be NUL-terminated (a NUL
 * byte inside is refused); source_name names it in messages ("... in <source_name> line 3"). */
int config_load_buffer(struct config *c, const char *buf, size_t len, const char *source_name,
                       char *err, size_t errsz);
/* Applies every FIBERLINK_* variable in envp; an unknown FIBERLINK_ name is an error. */
int config_load_env(struct config *c, char **envp, char *err, size_t errsz);
/* Cross-field checks for `serve` (preimage key present and long enough, TLS pair complete, USDI
 * script JSON well-formed when set). */
int config_validate_serve(const struct config *c, char *err, size_t errsz);
void config_dispose(struct config *c);
/* 1 when on-chain payouts are configured: a CKB node URL and a hot wallet key file are both set. */
int config_onchain_enabled(const struct config *c);

#endif
