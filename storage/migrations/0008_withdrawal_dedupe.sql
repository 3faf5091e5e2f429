-- Withdrawal requests without a clientRequestId (issue 8, findings 8 and 9).
--
-- Dedupe: the plugin sends no clientRequestId, so a double click or a retry after a lost answer
-- arrives as a second, identical request. Inside the balance gate, under the same advisory locks
-- that serialise a user's withdrawals, a request without a clientRequestId that matches a
-- withdrawal of the same app, user, asset and amount, paying the same payment request, created
-- less than 120 seconds ago and not FAILED, is answered with that withdrawal (outcome
-- 'DEDUPLICATED'): nothing new is reserved or paid. Two identical requests racing each other are
-- serialised by the locks, so the second always sees the first's row. A FAILED withdrawal does not
-- count: its money is back with the user, and a retry after a refund means a new withdrawal.
-- Payment requests are compared case-insensitively (bech32 text is all lower or all upper case,
-- both spelling the same invoice); the legacy toAddress is stored the same way as
-- destination.paymentRequest, so both spellings match.
--
-- Fee cap: the routing fee the hub pays for one withdrawal is capped by the lesser of the
-- absolute cap (the policy's max_fee_amount, or the withdraw_max_fee default) and a fraction of
-- the amount (withdraw_max_fee_ppm, parts per million, passed by the daemon). The gate stores
-- that cap on the row; the runner hands it to send_payment as max_fee_amount, so the node builds
-- no route that costs more. withdrawal.quote shows the same figure through fl_withdrawal_fee_cap.

-- The cap for one amount: integer arithmetic (numeric, rounded down), never above either bound.
CREATE FUNCTION fl_withdrawal_fee_cap(p_amount bigint, p_max_fee bigint, p_fee_ppm integer)
RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT least(p_max_fee, floor(p_amount::numeric * greatest(p_fee_ppm, 0) / 1000000)::bigint)
$$;

DROP FUNCTION fl_withdrawal_request(uuid, text, text, text, bigint, text, text, text, text,
                                    boolean, bigint, bigint, bigint, bigint, integer, bigint);

-- As in 0004, plus: the dedupe step (right after the locks, before any policy check, so a retry
-- is never refused by the cooldown or the daily totals its own first attempt used up), the
-- fraction cap p_fee_ppm (the daemon always passes it; a caller of 0004's arguments gets
-- 1000000, the absolute cap alone, as before), and existing_state (the state of the withdrawal answered for
-- 'EXISTING' and 'DEDUPLICATED').
CREATE FUNCTION fl_withdrawal_request(
    p_id uuid, p_app text, p_user text, p_asset text, p_amount bigint, p_payment_request text,
    p_payment_hash text, p_client_request_id text, p_request_hash text,
    p_default_allowed boolean, p_default_min bigint, p_default_max bigint,
    p_default_user_daily bigint, p_default_app_daily bigint, p_default_cooldown integer,
    p_default_max_fee bigint, p_fee_ppm integer DEFAULT 1000000,
    OUT outcome text, OUT available bigint, OUT requested bigint, OUT shortfall bigint,
    OUT lim bigint, OUT retry_after integer, OUT withdrawal_id uuid, OUT existing_state text)
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
           AND w.amount = p_amount AND lower(w.payment_request) = lower(p_payment_request)
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
            p_payment_hash, p_client_request_id, p_request_hash,
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
