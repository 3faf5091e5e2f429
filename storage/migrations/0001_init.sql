-- The initial schema of the hub: forum apps, tips with their event timeline, and the append-only
-- double-entry ledger (ARCHITECTURE.md 3). Every table carries app_id, the natural distribution
-- column should the database ever be sharded (ARCHITECTURE.md 5). Money steps are plpgsql
-- functions so that the daemon runs each as one statement, hence one transaction.

CREATE TABLE apps (
    app_id      text PRIMARY KEY CHECK (char_length(app_id) BETWEEN 1 AND 128),
    hmac_secret text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tips (
    id                uuid PRIMARY KEY,
    app_id            text NOT NULL REFERENCES apps (app_id),
    client_request_id text,
    request_hash      text NOT NULL,
    post_id           text NOT NULL,
    from_user_id      text NOT NULL,
    to_user_id        text NOT NULL,
    topic_id          text,
    asset             text NOT NULL CHECK (asset IN ('CKB', 'USDI')),
    amount            bigint NOT NULL CHECK (amount > 0),
    message           text,
    invoice           text NOT NULL UNIQUE,
    payment_hash      text NOT NULL UNIQUE,
    state             text NOT NULL DEFAULT 'UNPAID'
                      CHECK (state IN ('UNPAID', 'SETTLED', 'FAILED')),
    failure_reason    text CHECK (failure_reason IN ('EXPIRED', 'CANCELLED')),
    node_status       text,
    expires_at        timestamptz NOT NULL,
    next_check_at     timestamptz NOT NULL,
    check_count       integer NOT NULL DEFAULT 0,
    settled_amount    bigint,
    settled_at        timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    -- NULLs are distinct, so tips without a client request id never collide here.
    UNIQUE (app_id, client_request_id),
    -- A settled tip always says when and for how much; the feed cursor relies on settled_at.
    CHECK (state <> 'SETTLED' OR (settled_at IS NOT NULL AND settled_amount > 0)),
    CHECK (failure_reason IS NULL OR state = 'FAILED')
);

-- The invoice poller's claim: open tips whose next check is due.
CREATE INDEX tips_due_idx ON tips (next_check_at) WHERE state = 'UNPAID';
-- tip.settled_feed pages by (settled_at, id) within one app.
CREATE INDEX tips_settled_feed_idx ON tips (app_id, settled_at, id) WHERE state = 'SETTLED';
-- The dashboard lists a user's tips in both directions, newest first.
CREATE INDEX tips_to_user_idx ON tips (app_id, to_user_id, created_at DESC);
CREATE INDEX tips_from_user_idx ON tips (app_id, from_user_id, created_at DESC);

-- Every state change and every node check of a tip, in order, for support and audits.
CREATE TABLE tip_events (
    id          bigserial PRIMARY KEY,
    tip_id      uuid NOT NULL REFERENCES tips (id),
    app_id      text NOT NULL,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    source      text NOT NULL,
    prev_state  text,
    next_state  text NOT NULL,
    node_status text,
    detail      text
);
CREATE INDEX tip_events_tip_idx ON tip_events (tip_id, id);

-- Ledger accounts. user_id is '' for the hub's own accounts (NODE, WITHDRAWAL_INFLIGHT, ...), so
-- the unique key needs no NULL handling.
CREATE TABLE accounts (
    id         bigserial PRIMARY KEY,
    app_id     text NOT NULL,
    kind       text NOT NULL
               CHECK (kind IN ('USER', 'NODE', 'WITHDRAWAL_INFLIGHT', 'PAID_OUT', 'FEES')),
    user_id    text NOT NULL DEFAULT '',
    asset      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (app_id, kind, user_id, asset)
);

-- One row per movement of money. A balance is the sum of credits minus the sum of debits,
-- computed when needed: a stored balance column would make every tip to a popular author wait on
-- one hot row lock.
CREATE TABLE transfers (
    id              bigserial PRIMARY KEY,
    app_id          text NOT NULL,
    debit_account   bigint NOT NULL REFERENCES accounts (id),
    credit_account  bigint NOT NULL REFERENCES accounts (id),
    asset           text NOT NULL,
    amount          bigint NOT NULL CHECK (amount > 0),
    kind            text NOT NULL,
    ref             text NOT NULL,
    idempotency_key text NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (debit_account <> credit_account)
);
CREATE INDEX transfers_debit_idx ON transfers (debit_account);
CREATE INDEX transfers_credit_idx ON transfers (credit_account);

-- History is never rewritten: a correction is a new transfer or a new event.
CREATE FUNCTION fl_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$;

CREATE TRIGGER transfers_append_only BEFORE UPDATE OR DELETE ON transfers
    FOR EACH ROW EXECUTE FUNCTION fl_refuse_change();
CREATE TRIGGER tip_events_append_only BEFORE UPDATE OR DELETE ON tip_events
    FOR EACH ROW EXECUTE FUNCTION fl_refuse_change();

-- Get-or-create a ledger account. The common case (it exists) is a plain read, and the insert uses
-- ON CONFLICT DO NOTHING, so an existing account row is never locked. Each plpgsql statement takes
-- a fresh snapshot under READ COMMITTED, so the final SELECT sees a row a concurrent transaction
-- committed while our insert waited on it.
CREATE FUNCTION fl_account(p_app text, p_kind text, p_user text, p_asset text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    SELECT id INTO v_id FROM accounts
     WHERE app_id = p_app AND kind = p_kind AND user_id = coalesce(p_user, '') AND asset = p_asset;
    IF FOUND THEN
        RETURN v_id;
    END IF;
    INSERT INTO accounts (app_id, kind, user_id, asset)
    VALUES (p_app, p_kind, coalesce(p_user, ''), p_asset)
    ON CONFLICT DO NOTHING
    RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        SELECT id INTO STRICT v_id FROM accounts
         WHERE app_id = p_app AND kind = p_kind AND user_id = coalesce(p_user, '')
           AND asset = p_asset;
    END IF;
    RETURN v_id;
END
$$;

-- Records a new UNPAID tip and its 'created' event, or returns the tip that already holds its id
-- (or its invoice, payment hash or client request id) untouched, with inserted = false; the
-- caller compares request_hash to tell a retry from a conflicting reuse. The insert and the
-- read-back are separate statements on purpose: a SELECT in the same statement as an INSERT that
-- waited on a concurrent insert would not see the row that made it conflict.
CREATE FUNCTION fl_tip_insert(
    p_id uuid, p_app text, p_client_request_id text, p_request_hash text, p_post_id text,
    p_topic_id text, p_from_user_id text, p_to_user_id text, p_asset text, p_amount bigint,
    p_message text, p_invoice text, p_payment_hash text, p_expires_at timestamptz,
    OUT inserted boolean, OUT tip tips)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tips (id, app_id, client_request_id, request_hash, post_id, topic_id,
                      from_user_id, to_user_id, asset, amount, message, invoice, payment_hash,
                      expires_at, next_check_at)
    VALUES (p_id, p_app, p_client_request_id, p_request_hash, p_post_id, p_topic_id,
            p_from_user_id, p_to_user_id, p_asset, p_amount, p_message, p_invoice,
            p_payment_hash, p_expires_at, now() + interval '1 second')
    ON CONFLICT DO NOTHING;
    inserted := FOUND;
    IF inserted THEN
        INSERT INTO tip_events (tip_id, app_id, source, prev_state, next_state, detail)
        VALUES (p_id, p_app, 'tip.create', NULL, 'UNPAID', 'created');
    END IF;

    SELECT * INTO tip FROM tips WHERE id = p_id;
    IF NOT FOUND THEN
        SELECT * INTO tip FROM tips
         WHERE invoice = p_invoice OR payment_hash = p_payment_hash
            OR (app_id = p_app AND client_request_id = p_client_request_id)
         LIMIT 1;
    END IF;
    -- Never hand one app another app's tip, even if an id or invoice somehow collided.
    IF tip.id IS NULL OR tip.app_id <> p_app THEN
        RAISE EXCEPTION 'tip % conflicts with an existing tip', p_id
            USING ERRCODE = 'unique_violation';
    END IF;
END
$$;

-- The settlement step (ARCHITECTURE.md 4): credit the author with the amount the node reports,
-- mark the tip SETTLED and record the event, all or nothing. The tip row lock serialises two
-- settlers of the same tip (poller and tip.status); the loser sees SETTLED and returns
-- applied = false. The transfer's idempotency key is a second guard against a double credit.
CREATE FUNCTION fl_settle_tip(p_tip uuid, p_amount bigint, p_source text, p_node_status text,
                              OUT applied boolean, OUT tip tips)
LANGUAGE plpgsql AS $$
DECLARE
    v_node bigint;
    v_user bigint;
BEGIN
    IF p_amount IS NULL OR p_amount <= 0 THEN
        RAISE EXCEPTION 'settlement amount must be positive, got %', p_amount
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT * INTO tip FROM tips WHERE id = p_tip FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'tip % not found', p_tip USING ERRCODE = 'no_data_found';
    END IF;
    applied := false;
    IF tip.state <> 'UNPAID' THEN
        RETURN;
    END IF;

    v_node := fl_account(tip.app_id, 'NODE', '', tip.asset);
    v_user := fl_account(tip.app_id, 'USER', tip.to_user_id, tip.asset);
    INSERT INTO transfers (app_id, debit_account, credit_account, asset, amount, kind, ref,
                           idempotency_key)
    VALUES (tip.app_id, v_node, v_user, tip.asset, p_amount, 'SETTLEMENT', p_tip::text,
            'settlement:tip:' || p_tip::text)
    ON CONFLICT (idempotency_key) DO NOTHING;

    UPDATE tips
       SET state = 'SETTLED', settled_at = clock_timestamp(), settled_amount = p_amount,
           node_status = p_node_status
     WHERE id = p_tip AND state = 'UNPAID'
    RETURNING * INTO tip;
    INSERT INTO tip_events (tip_id, app_id, source, prev_state, next_state, node_status, detail)
    VALUES (p_tip, tip.app_id, p_source, 'UNPAID', 'SETTLED', p_node_status, 'settled');
    applied := true;
END
$$;

-- Notes a node check of an open tip and schedules the next one. Returns false (and writes
-- nothing) when the tip is no longer UNPAID.
CREATE FUNCTION fl_tip_check(p_tip uuid, p_source text, p_node_status text, p_delay_ms integer)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_app text;
BEGIN
    UPDATE tips
       SET node_status = p_node_status,
           next_check_at = now() + greatest(p_delay_ms, 0) * interval '1 millisecond',
           check_count = check_count + 1
     WHERE id = p_tip AND state = 'UNPAID'
    RETURNING app_id INTO v_app;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO tip_events (tip_id, app_id, source, prev_state, next_state, node_status, detail)
    VALUES (p_tip, v_app, p_source, 'UNPAID', 'UNPAID', p_node_status, 'check');
    RETURN true;
END
$$;
