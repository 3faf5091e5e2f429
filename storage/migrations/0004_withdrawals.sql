-- Withdrawals over Fiber (issue 4): per-app policy, the withdrawal state machine, its event
-- timeline, and the money steps as plpgsql functions (one statement, one transaction each).
--
-- Ledger moves (debit → credit, every one with an idempotency key):
--   reserve  USER → WITHDRAWAL_INFLIGHT   'withdrawal:reserve:<id>'   at request
--   payout   WITHDRAWAL_INFLIGHT → PAID_OUT 'withdrawal:payout:<id>'  on Success
--   fee      FEES → PAID_OUT              'withdrawal:fee:<id>'       on Success, when fee > 0
--            (the hub bears the routing fee; the author is debited exactly the amount)
--   refund   WITHDRAWAL_INFLIGHT → USER   'withdrawal:refund:<id>'    on FAILED
-- So a withdrawal is, exactly once, either still in flight, paid out, or refunded.

-- Policy per app and asset; absent rows fall back to the daemon's configured defaults.
-- Amounts in base units.
CREATE TABLE withdrawal_policies (
    app_id           text NOT NULL REFERENCES apps (app_id),
    asset            text NOT NULL CHECK (asset IN ('CKB', 'USDI')),
    allowed          boolean NOT NULL,
    min_amount       bigint NOT NULL CHECK (min_amount > 0),
    max_per_request  bigint NOT NULL CHECK (max_per_request > 0),
    per_user_daily   bigint NOT NULL CHECK (per_user_daily > 0),
    per_app_daily    bigint NOT NULL CHECK (per_app_daily > 0),
    cooldown_seconds integer NOT NULL CHECK (cooldown_seconds >= 0),
    max_fee_amount   bigint NOT NULL CHECK (max_fee_amount >= 0),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (app_id, asset)
);

CREATE TABLE withdrawals (
    id                uuid PRIMARY KEY,
    app_id            text NOT NULL REFERENCES apps (app_id),
    user_id           text NOT NULL,
    asset             text NOT NULL CHECK (asset IN ('CKB', 'USDI')),
    amount            bigint NOT NULL CHECK (amount > 0),
    -- Only payment requests are accepted until on-chain payouts exist; CKB addresses are refused
    -- before anything is written.
    destination_kind  text NOT NULL CHECK (destination_kind = 'PAYMENT_REQUEST'),
    payment_request   text NOT NULL,
    payment_hash      text NOT NULL,
    client_request_id text,
    request_hash      text NOT NULL,
    state             text NOT NULL DEFAULT 'PENDING'
                      CHECK (state IN ('PENDING', 'PROCESSING', 'RETRY_PENDING', 'COMPLETED',
                                       'FAILED')),
    max_fee_amount    bigint NOT NULL CHECK (max_fee_amount >= 0),
    fee               bigint CHECK (fee >= 0),
    retry_count       integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    lease_until       timestamptz,
    -- Set (durably) just before the first send_payment: from then on the payment may exist at the
    -- node, so a resumed attempt asks get_payment before it ever sends again.
    send_started_at   timestamptz,
    failure_reason    text,
    last_error        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    completed_at      timestamptz,
    UNIQUE (app_id, client_request_id),
    CHECK (state <> 'COMPLETED' OR (fee IS NOT NULL AND completed_at IS NOT NULL)),
    CHECK (state <> 'FAILED' OR failure_reason IS NOT NULL)
);
-- One invoice can be paid by at most one live withdrawal: a second request for the same payment
-- hash would otherwise meet the first one's payment session and could be marked paid twice.
CREATE UNIQUE INDEX withdrawals_live_hash_idx ON withdrawals (payment_hash) WHERE state <> 'FAILED';
CREATE INDEX withdrawals_due_idx ON withdrawals (next_attempt_at)
    WHERE state IN ('PENDING', 'RETRY_PENDING');
CREATE INDEX withdrawals_lease_idx ON withdrawals (lease_until) WHERE state = 'PROCESSING';
CREATE INDEX withdrawals_user_idx ON withdrawals (app_id, user_id, asset, created_at DESC);
CREATE INDEX withdrawals_app_day_idx ON withdrawals (app_id, asset, created_at);

CREATE TABLE withdrawal_events (
    id            bigserial PRIMARY KEY,
    withdrawal_id uuid NOT NULL REFERENCES withdrawals (id),
    app_id        text NOT NULL,
    at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    source        text NOT NULL,
    prev_state    text,
    next_state    text NOT NULL,
    detail        text
);
CREATE INDEX withdrawal_events_idx ON withdrawal_events (withdrawal_id, id);
CREATE TRIGGER withdrawal_events_append_only BEFORE UPDATE OR DELETE ON withdrawal_events
    FOR EACH ROW EXECUTE FUNCTION fl_refuse_change();

-- Ledger balance of one account (credits minus debits).
CREATE FUNCTION fl_balance(p_account bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT sum(amount) FROM transfers WHERE credit_account = p_account), 0)
         - coalesce((SELECT sum(amount) FROM transfers WHERE debit_account = p_account), 0)
$$;

-- The balance gate (ARCHITECTURE.md 4 "Withdrawal"). Under transaction-scoped advisory locks on
-- the app's and the user's withdrawals (app first, always, so two requests never wait on each
-- other in opposite orders): idempotency, policy, available balance, then the row and the
-- reservation. Policy values come from withdrawal_policies or, when the app has no row for the
-- asset, from the p_default_* arguments (the daemon's configuration).
-- outcome: 'CREATED' | 'EXISTING' (same clientRequestId; the caller compares request_hash) |
-- a refusal reason. The figures explain refusals: available, requested, shortfall, limit,
-- retry_after (seconds).
CREATE FUNCTION fl_withdrawal_request(
    p_id uuid, p_app text, p_user text, p_asset text, p_amount bigint, p_payment_request text,
    p_payment_hash text, p_client_request_id text, p_request_hash text,
    p_default_allowed boolean, p_default_min bigint, p_default_max bigint,
    p_default_user_daily bigint, p_default_app_daily bigint, p_default_cooldown integer,
    p_default_max_fee bigint,
    OUT outcome text, OUT available bigint, OUT requested bigint, OUT shortfall bigint,
    OUT lim bigint, OUT retry_after integer, OUT withdrawal_id uuid)
LANGUAGE plpgsql AS $$
DECLARE
    v_pol    withdrawal_policies;
    v_user   bigint;
    v_flight bigint;
    v_used   bigint;
    v_last   timestamptz;
BEGIN
    requested := p_amount;
    IF p_client_request_id IS NOT NULL THEN
        SELECT id INTO withdrawal_id FROM withdrawals
         WHERE app_id = p_app AND client_request_id = p_client_request_id;
        IF FOUND THEN
            outcome := 'EXISTING';
            RETURN;
        END IF;
    END IF;

    PERFORM pg_advisory_xact_lock(hashtextextended('withdrawal-app:' || p_app, 0));
    PERFORM pg_advisory_xact_lock(
        hashtextextended('withdrawal-user:' || p_app || '/' || p_user || '/' || p_asset, 0));
    -- A request with the same key may have committed while we waited for the locks.
    IF p_client_request_id IS NOT NULL THEN
        SELECT id INTO withdrawal_id FROM withdrawals
         WHERE app_id = p_app AND client_request_id = p_client_request_id;
        IF FOUND THEN
            outcome := 'EXISTING';
            RETURN;
        END IF;
    END IF;

    SELECT * INTO v_pol FROM withdrawal_policies WHERE app_id = p_app AND asset = p_asset;
    IF NOT FOUND THEN
        v_pol := ROW(p_app, p_asset, p_default_allowed, p_default_min, p_default_max,
                     p_default_user_daily, p_default_app_daily, p_default_cooldown,
                     p_default_max_fee, now());
    END IF;

    v_user := fl_account(p_app, 'USER', p_user, p_asset);
    available := fl_balance(v_user);

    IF NOT v_pol.allowed THEN
        outcome := 'ASSET_NOT_ALLOWED';
        RETURN;
    END IF;
    IF p_amount < v_pol.min_amount THEN
        outcome := 'AMOUNT_BELOW_MINIMUM';
        lim := v_pol.min_amount;
        RETURN;
    END IF;
    IF p_amount > v_pol.max_per_request THEN
        outcome := 'MAX_PER_REQUEST_EXCEEDED';
        lim := v_pol.max_per_request;
        RETURN;
    END IF;
    -- Daily totals are rolling 24 hours of withdrawals that were not refunded.
    SELECT coalesce(sum(amount), 0) INTO v_used FROM withdrawals
     WHERE app_id = p_app AND user_id = p_user AND asset = p_asset AND state <> 'FAILED'
       AND created_at > now() - interval '24 hours';
    IF v_used + p_amount > v_pol.per_user_daily THEN
        outcome := 'PER_USER_DAILY_LIMIT_EXCEEDED';
        lim := v_pol.per_user_daily;
        shortfall := v_used + p_amount - v_pol.per_user_daily;
        RETURN;
    END IF;
    SELECT coalesce(sum(amount), 0) INTO v_used FROM withdrawals
     WHERE app_id = p_app AND asset = p_asset AND state <> 'FAILED'
       AND created_at > now() - interval '24 hours';
    IF v_used + p_amount > v_pol.per_app_daily THEN
        outcome := 'PER_APP_DAILY_LIMIT_EXCEEDED';
        lim := v_pol.per_app_daily;
        shortfall := v_used + p_amount - v_pol.per_app_daily;
        RETURN;
    END IF;
    IF v_pol.cooldown_seconds > 0 THEN
        SELECT max(created_at) INTO v_last FROM withdrawals
         WHERE app_id = p_app AND user_id = p_user AND state <> 'FAILED';
        IF v_last IS NOT NULL AND v_last + v_pol.cooldown_seconds * interval '1 second' > now()
        THEN
            outcome := 'COOLDOWN_ACTIVE';
            lim := v_pol.cooldown_seconds;
            retry_after := ceil(extract(epoch FROM
                (v_last + v_pol.cooldown_seconds * interval '1 second') - now()))::integer;
            RETURN;
        END IF;
    END IF;
    IF available < p_amount THEN
        outcome := 'INSUFFICIENT_FUNDS';
        shortfall := p_amount - available;
        RETURN;
    END IF;

    INSERT INTO withdrawals (id, app_id, user_id, asset, amount, destination_kind,
                             payment_request, payment_hash, client_request_id, request_hash,
                             max_fee_amount)
    VALUES (p_id, p_app, p_user, p_asset, p_amount, 'PAYMENT_REQUEST', p_payment_request,
            p_payment_hash, p_client_request_id, p_request_hash, v_pol.max_fee_amount);
    v_flight := fl_account(p_app, 'WITHDRAWAL_INFLIGHT', '', p_asset);
    INSERT INTO transfers (app_id, debit_account, credit_account, asset, amount, kind, ref,
                           idempotency_key)
    VALUES (p_app, v_user, v_flight, p_asset, p_amount, 'WITHDRAWAL_RESERVE', p_id::text,
            'withdrawal:reserve:' || p_id::text);
    INSERT INTO withdrawal_events (withdrawal_id, app_id, source, prev_state, next_state, detail)
    VALUES (p_id, p_app, 'withdrawal.request', NULL, 'PENDING', 'reserved');
    available := available - p_amount;
    withdrawal_id := p_id;
    outcome := 'CREATED';
END
$$;

-- Runner claim: due PENDING/RETRY_PENDING rows, and PROCESSING rows whose lease expired (their
-- runner died), move to PROCESSING under a new lease. SKIP LOCKED lets several daemons share the
-- queue. A resumed row keeps send_started_at, which tells the runner to ask get_payment first.
CREATE FUNCTION fl_withdrawal_claim(p_limit integer, p_lease_ms integer)
RETURNS SETOF withdrawals
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    WITH due AS (
        SELECT id, state AS prev FROM withdrawals
         WHERE (state IN ('PENDING', 'RETRY_PENDING') AND next_attempt_at <= now())
            OR (state = 'PROCESSING' AND lease_until < now())
         ORDER BY next_attempt_at
         LIMIT p_limit
         FOR UPDATE SKIP LOCKED
    ), ev AS (
        INSERT INTO withdrawal_events (withdrawal_id, app_id, source, prev_state, next_state,
                                       detail)
        SELECT w.id, w.app_id, 'runner', due.prev, 'PROCESSING',
               CASE WHEN due.prev = 'PROCESSING' THEN 'lease expired; resumed' ELSE 'claimed' END
          FROM withdrawals w JOIN due ON due.id = w.id
    )
    UPDATE withdrawals w
       SET state = 'PROCESSING', lease_until = now() + p_lease_ms * interval '1 millisecond'
      FROM due
     WHERE w.id = due.id
    RETURNING w.*;
END
$$;

-- Extends the lease of a withdrawal this runner is still working on (e.g. while polling
-- get_payment). Returns false when the row is no longer PROCESSING.
CREATE FUNCTION fl_withdrawal_touch(p_id uuid, p_lease_ms integer) RETURNS boolean
LANGUAGE sql AS $$
    UPDATE withdrawals SET lease_until = now() + p_lease_ms * interval '1 millisecond'
     WHERE id = p_id AND state = 'PROCESSING'
    RETURNING true
$$;

-- Records, durably and before the call, that send_payment is about to be made.
CREATE FUNCTION fl_withdrawal_mark_sending(p_id uuid) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_app text;
BEGIN
    UPDATE withdrawals SET send_started_at = coalesce(send_started_at, clock_timestamp())
     WHERE id = p_id AND state = 'PROCESSING'
    RETURNING app_id INTO v_app;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO withdrawal_events (withdrawal_id, app_id, source, prev_state, next_state, detail)
    VALUES (p_id, v_app, 'runner', 'PROCESSING', 'PROCESSING', 'sending payment');
    RETURN true;
END
$$;

-- Success: COMPLETED with its evidence, payout and fee transfers, exactly once.
CREATE FUNCTION fl_withdrawal_complete(p_id uuid, p_fee bigint, p_detail text,
                                       OUT applied boolean, OUT state text)
LANGUAGE plpgsql AS $$
DECLARE
    w withdrawals;
    v_flight bigint;
    v_out bigint;
    v_fees bigint;
BEGIN
    SELECT * INTO w FROM withdrawals WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'withdrawal % not found', p_id USING ERRCODE = 'no_data_found';
    END IF;
    applied := false;
    state := w.state;
    IF w.state IN ('COMPLETED', 'FAILED') THEN
        RETURN;
    END IF;
    v_flight := fl_account(w.app_id, 'WITHDRAWAL_INFLIGHT', '', w.asset);
    v_out := fl_account(w.app_id, 'PAID_OUT', '', w.asset);
    INSERT INTO transfers (app_id, debit_account, credit_account, asset, amount, kind, ref,
                           idempotency_key)
    VALUES (w.app_id, v_flight, v_out, w.asset, w.amount, 'WITHDRAWAL_PAYOUT', p_id::text,
            'withdrawal:payout:' || p_id::text)
    ON CONFLICT (idempotency_key) DO NOTHING;
    IF coalesce(p_fee, 0) > 0 THEN
        v_fees := fl_account(w.app_id, 'FEES', '', w.asset);
        INSERT INTO transfers (app_id, debit_account, credit_account, asset, amount, kind, ref,
                               idempotency_key)
        VALUES (w.app_id, v_fees, v_out, w.asset, p_fee, 'WITHDRAWAL_FEE', p_id::text,
                'withdrawal:fee:' || p_id::text)
        ON CONFLICT (idempotency_key) DO NOTHING;
    END IF;
    -- Qualified: the OUT parameter "state" would make a bare column name ambiguous.
    UPDATE withdrawals u
       SET state = 'COMPLETED', fee = coalesce(p_fee, 0), completed_at = clock_timestamp(),
           lease_until = NULL, last_error = NULL
     WHERE u.id = p_id AND u.state NOT IN ('COMPLETED', 'FAILED');
    INSERT INTO withdrawal_events (withdrawal_id, app_id, source, prev_state, next_state, detail)
    VALUES (p_id, w.app_id, 'runner', w.state, 'COMPLETED', p_detail);
    applied := true;
    state := 'COMPLETED';
END
$$;

-- Definite failure: FAILED with its reason and the refund, exactly once. Call it only when no
-- payment for this withdrawal can still succeed (the node refused it, or reports the session
-- Failed or absent and nothing more will be sent).
CREATE FUNCTION fl_withdrawal_fail(p_id uuid, p_reason text, p_error text,
                                   OUT applied boolean, OUT state text)
LANGUAGE plpgsql AS $$
DECLARE
    w withdrawals;
    v_flight bigint;
    v_user bigint;
BEGIN
    SELECT * INTO w FROM withdrawals WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'withdrawal % not found', p_id USING ERRCODE = 'no_data_found';
    END IF;
    applied := false;
    state := w.state;
    IF w.state IN ('COMPLETED', 'FAILED') THEN
        RETURN;
    END IF;
    v_flight := fl_account(w.app_id, 'WITHDRAWAL_INFLIGHT', '', w.asset);
    v_user := fl_account(w.app_id, 'USER', w.user_id, w.asset);
    INSERT INTO transfers (app_id, debit_account, credit_account, asset, amount, kind, ref,
                           idempotency_key)
    VALUES (w.app_id, v_flight, v_user, w.asset, w.amount, 'WITHDRAWAL_REFUND', p_id::text,
            'withdrawal:refund:' || p_id::text)
    ON CONFLICT (idempotency_key) DO NOTHING;
    UPDATE withdrawals u
       SET state = 'FAILED', failure_reason = p_reason, last_error = p_error,
           completed_at = clock_timestamp(), lease_until = NULL
     WHERE u.id = p_id AND u.state NOT IN ('COMPLETED', 'FAILED');
    INSERT INTO withdrawal_events (withdrawal_id, app_id, source, prev_state, next_state, detail)
    VALUES (p_id, w.app_id, 'runner', w.state, 'FAILED', p_reason || ': ' || coalesce(p_error, ''));
    applied := true;
    state := 'FAILED';
END
$$;

-- Transient trouble: back to RETRY_PENDING after p_delay_ms, one more retry counted.
CREATE FUNCTION fl_withdrawal_retry(p_id uuid, p_error text, p_delay_ms integer)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_app text;
BEGIN
    UPDATE withdrawals
       SET state = 'RETRY_PENDING', retry_count = retry_count + 1, last_error = p_error,
           next_attempt_at = now() + greatest(p_delay_ms, 0) * interval '1 millisecond',
           lease_until = NULL
     WHERE id = p_id AND state = 'PROCESSING'
    RETURNING app_id INTO v_app;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO withdrawal_events (withdrawal_id, app_id, source, prev_state, next_state, detail)
    VALUES (p_id, v_app, 'runner', 'PROCESSING', 'RETRY_PENDING', p_error);
    RETURN true;
END
$$;
