-- The balance gate for CKB address withdrawals (issue 9): fl_withdrawal_request learns a second
-- kind of destination. Everything the gate promised for invoices holds unchanged for addresses:
-- one transaction under the app's and the user's advisory locks; clientRequestId idempotency;
-- the dedupe of identical requests without one; policy; available >= amount; then the PENDING
-- row and its reservation transfer user -> in flight, or nothing at all.
--
-- What is new:
-- - p_destination_kind 'CKB_ADDRESS' with p_address (as the user gave it, trimmed), p_lock_script
--   (the molecule Script the daemon decoded it to) and p_network_fee (the daemon's estimate of the
--   transaction fee, which the hub pays: it is not taken from the user). payment_request and
--   payment_hash stay NULL for such a row (0010's withdrawals_destination_fields_check).
-- - p_min_capacity: the occupied capacity of the destination cell (61 CKB for a default-lock
--   address). A cell below it cannot exist on chain, so it is a floor under the policy minimum:
--   the effective minimum is the greater of the two, and AMOUNT_BELOW_MINIMUM reports it as lim.
--   The daemon decides the figure; the gate only compares, so there is one definition of it.
-- - Dedupe of an address request: the same app, user, asset and amount, paying the same lock
--   script, less than 120 s ago and not FAILED. The lock script is compared rather than the text:
--   a short and a full address (or the two letter cases) naming the same lock are one destination.
--
-- Callers that pass 0008's arguments (the daemon before this migration, tests calling the
-- function by position) get the defaults: an invoice withdrawal with no capacity floor, exactly
-- as before.

DROP FUNCTION fl_withdrawal_request(uuid, text, text, text, bigint, text, text, text, text,
                                    boolean, bigint, bigint, bigint, bigint, integer, bigint,
                                    integer);

CREATE FUNCTION fl_withdrawal_request(
    p_id uuid, p_app text, p_user text, p_asset text, p_amount bigint, p_payment_request text,
    p_payment_hash text, p_client_request_id text, p_request_hash text,
    p_default_allowed boolean, p_default_min bigint, p_default_max bigint,
    p_default_user_daily bigint, p_default_app_daily bigint, p_default_cooldown integer,
    p_default_max_fee bigint, p_fee_ppm integer DEFAULT 1000000,
    p_destination_kind text DEFAULT 'PAYMENT_REQUEST', p_address text DEFAULT NULL,
    p_lock_script bytea DEFAULT NULL, p_network_fee bigint DEFAULT NULL,
    p_min_capacity bigint DEFAULT 0,
    OUT outcome text, OUT available bigint, OUT requested bigint, OUT shortfall bigint,
    OUT lim bigint, OUT retry_after integer, OUT withdrawal_id uuid, OUT existing_state text)
LANGUAGE plpgsql AS $$
DECLARE
    v_pol    withdrawal_policies;
    v_user   bigint;
    v_flight bigint;
    v_used   bigint;
    v_last   timestamptz;
    v_min    bigint;
    v_addr   boolean := p_destination_kind = 'CKB_ADDRESS';
BEGIN
    IF p_destination_kind NOT IN ('PAYMENT_REQUEST', 'CKB_ADDRESS') THEN
        RAISE EXCEPTION 'unknown destination kind %', p_destination_kind;
    END IF;
    requested := p_amount;
    IF p_client_request_id IS NOT NULL THEN
        SELECT w.id, w.state INTO withdrawal_id, existing_state FROM withdrawals w
         WHERE w.app_id = p_app AND w.client_request_id = p_client_request_id;
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
        SELECT w.id, w.state INTO withdrawal_id, existing_state FROM withdrawals w
         WHERE w.app_id = p_app AND w.client_request_id = p_client_request_id;
        IF FOUND THEN
            outcome := 'EXISTING';
            RETURN;
        END IF;
    ELSE
        -- Every identical request commits under these locks, so this sees all of them.
        SELECT w.id, w.state INTO withdrawal_id, existing_state FROM withdrawals w
         WHERE w.app_id = p_app AND w.user_id = p_user AND w.asset = p_asset
           AND w.amount = p_amount AND w.destination_kind = p_destination_kind
           AND CASE WHEN v_addr THEN w.lock_script = p_lock_script
                    ELSE lower(w.payment_request) = lower(p_payment_request) END
           AND w.state <> 'FAILED' AND w.created_at > now() - interval '120 seconds'
         ORDER BY w.created_at DESC
         LIMIT 1;
        IF FOUND THEN
            outcome := 'DEDUPLICATED';
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
    v_min := greatest(v_pol.min_amount, coalesce(p_min_capacity, 0));
    IF p_amount < v_min THEN
        outcome := 'AMOUNT_BELOW_MINIMUM';
        lim := v_min;
        RETURN;
    END IF;
    IF p_amount > v_pol.max_per_request THEN
        outcome := 'MAX_PER_REQUEST_EXCEEDED';
        lim := v_pol.max_per_request;
        RETURN;
    END IF;
    -- Daily totals are rolling 24 hours of withdrawals that were not refunded, whatever their
    -- destination.
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

    -- An address row carries no invoice (and an invoice row no address): the table's
    -- withdrawals_destination_fields_check refuses any mix, and the asset of an address row must
    -- be CKB. max_fee_amount is stored for both kinds (the column is NOT NULL); only the Fiber
    -- runner reads it.
    INSERT INTO withdrawals (id, app_id, user_id, asset, amount, destination_kind,
                             payment_request, payment_hash, address, lock_script, network_fee,
                             client_request_id, request_hash, max_fee_amount)
    VALUES (p_id, p_app, p_user, p_asset, p_amount, p_destination_kind,
            CASE WHEN v_addr THEN NULL ELSE p_payment_request END,
            CASE WHEN v_addr THEN NULL ELSE p_payment_hash END,
            CASE WHEN v_addr THEN p_address END,
            CASE WHEN v_addr THEN p_lock_script END,
            CASE WHEN v_addr THEN p_network_fee END,
            p_client_request_id, p_request_hash,
            fl_withdrawal_fee_cap(p_amount, v_pol.max_fee_amount, p_fee_ppm));
    v_flight := fl_account(p_app, 'WITHDRAWAL_INFLIGHT', '', p_asset);
    INSERT INTO transfers (app_id, debit_account, credit_account, asset, amount, kind, ref,
                           idempotency_key)
    VALUES (p_app, v_user, v_flight, p_asset, p_amount, 'WITHDRAWAL_RESERVE', p_id::text,
            'withdrawal:reserve:' || p_id::text);
    INSERT INTO withdrawal_events (withdrawal_id, app_id, source, prev_state, next_state, detail)
    VALUES (p_id, p_app, 'withdrawal.request', NULL, 'PENDING', 'reserved');
    available := available - p_amount;
    withdrawal_id := p_id;
    existing_state := 'PENDING';
    outcome := 'CREATED';
END
$$;
