-- The operator surface (API.md "Admin API", issue 10): admin tokens and the append-only audit log.
--
-- A token is 32 random bytes shown once by `fiberlinkd admin create`; only its SHA-256 is kept, so
-- a dump of this table cannot be replayed. Tokens are looked up by that hash (the hash of a
-- random value leaks nothing through the index), and compared again in constant time by the daemon.
-- A revoked token keeps its row (revoked_at), so the audit log's actor names stay meaningful.
--
-- Every admin call that changes something writes one audit_log row in the same statement (so in
-- the same transaction) as the change itself, through fl_audit: no change without its row, no row
-- without its change. The table refuses UPDATE, DELETE and TRUNCATE.

CREATE TABLE admin_tokens (
    name        text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9._@-]{1,64}$'),
    role        text NOT NULL CHECK (role IN ('SUPER_ADMIN', 'COMMUNITY_ADMIN')),
    app_ids     text[] NOT NULL DEFAULT '{}',
    token_hash  bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    last_used_at timestamptz,
    -- A community admin is always given at least one app; a super admin none (it sees them all).
    CHECK ((role = 'SUPER_ADMIN') = (cardinality(app_ids) = 0))
);

CREATE TABLE audit_log (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor     text NOT NULL,          -- admin token name, or "cli" for the command line
    method    text NOT NULL,          -- "apps.rotate_secret", "withdrawals.cancel", …
    app_id    text,                   -- the app the change is about (NULL: hub-wide, e.g. jobs)
    subject   text,                   -- the row changed (withdrawal id, job name, …)
    params    jsonb NOT NULL DEFAULT '{}',   -- the call's params, secrets removed
    before    jsonb,                  -- the changed row(s) before, secrets removed
    after     jsonb                   -- and after
);
CREATE INDEX audit_log_app_idx ON audit_log (app_id, id);

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION fl_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION fl_refuse_change();

-- One audit row; returns its id. Call it from the plpgsql function (or a data-modifying CTE) that
-- makes the change, never as a separate statement.
CREATE FUNCTION fl_audit(p_actor text, p_method text, p_app_id text, p_subject text,
                         p_params jsonb, p_before jsonb, p_after jsonb) RETURNS bigint
LANGUAGE sql AS $$
    INSERT INTO audit_log (actor, method, app_id, subject, params, before, after)
    VALUES (p_actor, p_method, p_app_id, p_subject, coalesce(p_params, '{}'), p_before, p_after)
    RETURNING id
$$;

-- ---- webhooks (API.md "Webhooks"): receivers and the delivery log ----
-- Declared here because several admin areas read them (webhooks.* methods, timelines); the
-- delivery job that fills and drains webhook_deliveries comes with the webhooks issue.

-- One receiver per app. The secret is sealed (core/seal.h, purpose "webhook-secret", aad app id).
CREATE TABLE webhooks (
    app_id      text PRIMARY KEY REFERENCES apps (app_id),
    url         text NOT NULL,
    events      text[] NOT NULL,
    enabled     boolean NOT NULL DEFAULT true,
    secret_enc  bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per (event, receiver): the outbox. Written in the transaction of the change it reports.
CREATE TABLE webhook_deliveries (
    id              bigserial PRIMARY KEY,
    app_id          text NOT NULL,
    event_id        uuid NOT NULL,
    event_type      text NOT NULL CHECK (event_type IN ('tip.settled', 'tip.failed',
                        'withdrawal.completed', 'withdrawal.failed',
                        'withdrawal.liquidity_pending', 'alert.raised', 'alert.cleared')),
    subject_kind    text NOT NULL CHECK (subject_kind IN ('tip', 'withdrawal', 'alert')),
    subject_id      text NOT NULL,
    payload         jsonb NOT NULL,
    state           text NOT NULL DEFAULT 'PENDING'
                    CHECK (state IN ('PENDING', 'DELIVERED', 'FAILED')),
    attempts        integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_attempt_at timestamptz,
    last_status     integer,
    last_error      text,
    delivered_at    timestamptz,
    UNIQUE (event_id, app_id)
);
CREATE INDEX webhook_deliveries_app_idx ON webhook_deliveries (app_id, id);
CREATE INDEX webhook_deliveries_subject_idx ON webhook_deliveries (subject_kind, subject_id, id);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE state = 'PENDING';

-- Every try of a delivery (status, time, error), append-only.
CREATE TABLE webhook_attempts (
    id           bigserial PRIMARY KEY,
    delivery_id  bigint NOT NULL REFERENCES webhook_deliveries (id),
    app_id       text NOT NULL,
    at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    status       integer,
    error        text,
    duration_ms  integer
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);
CREATE TRIGGER webhook_attempts_append_only BEFORE UPDATE OR DELETE ON webhook_attempts
    FOR EACH ROW EXECUTE FUNCTION fl_refuse_change();
