-- Fenced leases and checked transitions for the withdrawal runner (issue 8, ARCHITECTURE.md 7).
--
-- Two daemons can both believe they hold a withdrawal: one whose lease ran out while it was slow
-- or cut off from the database, and the one that claimed the row after it. 0004's steps checked
-- only the row's state, so both could write: one refunded while the other paid. Now every claim
-- issues a fresh lease token, and every later step of that job names it:
--   WHERE id = p_id AND lease_token = p_token AND state = 'PROCESSING'
-- A step with a stale token changes nothing and answers applied = false with the row's state:
-- the caller has lost its lease and stops. Only the holder of the current token can change the
-- row, and the runner sends a payment only right after a fenced mark proved the lease its own.
--
-- Every fenced step answers (applied boolean, state text): state is the row's state after the
-- call (NULL when there is no such row).

-- Tokens only grow, so the newest claim's token is the highest (useful when reading logs).
CREATE SEQUENCE withdrawal_lease_token_seq;
ALTER TABLE withdrawals ADD COLUMN lease_token bigint;

-- The state machine, enforced for every writer (the runner, later an admin cancel, a hand-made
-- UPDATE). Allowed today:
--   (insert)       → PENDING
--   PENDING        → PROCESSING      claim
--   RETRY_PENDING  → PROCESSING      claim after the back-off
--   PROCESSING     → PROCESSING      re-claim of an expired lease (no change of state)
--   PROCESSING     → RETRY_PENDING   fl_withdrawal_retry
--   PROCESSING     → COMPLETED       fl_withdrawal_complete (payout)
--   PROCESSING     → FAILED          fl_withdrawal_fail (refund)
-- Nothing leaves COMPLETED or FAILED. PENDING/RETRY_PENDING → FAILED is not allowed: nothing
-- fails a withdrawal without holding it today; the admin cancel that needs it adds it with its
-- own migration.
CREATE FUNCTION fl_withdrawal_transition_allowed(p_from text, p_to text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT (p_from, p_to) IN (('PENDING', 'PROCESSING'), ('RETRY_PENDING', 'PROCESSING'),
                              ('PROCESSING', 'PROCESSING'), ('PROCESSING', 'RETRY_PENDING'),
                              ('PROCESSING', 'COMPLETED'), ('PROCESSING', 'FAILED'))
$$;

CREATE FUNCTION fl_withdrawal_check_transition() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.state <> 'PENDING' THEN
            RAISE EXCEPTION 'withdrawal %: a new withdrawal starts PENDING, not %', NEW.id,
                NEW.state USING ERRCODE = 'check_violation';
        END IF;
    ELSIF NEW.state IS DISTINCT FROM OLD.state
          AND NOT fl_withdrawal_transition_allowed(OLD.state, NEW.state) THEN
        RAISE EXCEPTION 'withdrawal %: illegal state change % -> %', OLD.id, OLD.state, NEW.state
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER withdrawals_state_machine BEFORE INSERT OR UPDATE OF state ON withdrawals
    FOR EACH ROW EXECUTE FUNCTION fl_withdrawal_check_transition();

-- The runner's steps, replaced by fenced ones (the unfenced versions must not stay callable).
DROP FUNCTION fl_withdrawal_claim(integer, integer);
DROP FUNCTION fl_withdrawal_touch(uuid, integer);
DROP FUNCTION fl_withdrawal_mark_sending(uuid);
DROP FUNCTION fl_withdrawal_complete(uuid, bigint, text);
DROP FUNCTION fl_withdrawal_fail(uuid, text, text);
DROP FUNCTION fl_withdrawal_retry(uuid, text, integer);

-- Claim: as in 0004 (due PENDING/RETRY_PENDING rows and expired leases, SKIP LOCKED), and each
-- claimed row gets a new lease token, returned in the row. A re-claimed row's old token is dead
-- from this commit on.
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
       SET state = 'PROCESSING', lease_until = now() + p_lease_ms * interval '1 millisecond',
           lease_token = nextval('withdrawal_lease_token_seq')
      FROM due
     WHERE w.id = due.id
    RETURNING w.*;
END
$$;

-- Extends the lease while a payment is polled.
CREATE FUNCTION fl_withdrawal_touch(p_id uuid, p_token bigint, p_lease_ms integer,
                                    OUT applied boolean, OUT state text)
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE withdrawals w SET lease_until = now() + p_lease_ms * interval '1 millisecond'
     WHERE w.id = p_id AND w.lease_token = p_token AND w.state = 'PROCESSING';
    applied := FOUND;
    SELECT w.state INTO state FROM withdrawals w WHERE w.id = p_id;
END
$$;

-- Before EVERY send_payment: proves the lease is still ours, renews it (so the send starts with
-- a whole lease ahead), and records durably that a payment may exist from now on.
CREATE FUNCTION fl_withdrawal_mark_sending(p_id uuid, p_token bigint, p_lease_ms integer,
                                           OUT applied boolean, OUT state text)
LANGUAGE plpgsql AS $$
DECLARE
    v_app text;
BEGIN
    UPDATE withdrawals w
       SET send_started_at = coalesce(w.send_started_at, clock_timestamp()),
           lease_until = now() + p_lease_ms * interval '1 millisecond'
     WHERE w.id = p_id AND w.lease_token = p_token AND w.state = 'PROCESSING'
    RETURNING w.app_id INTO v_app;
    applied := FOUND;
    IF applied THEN
        INSERT INTO withdrawal_events (withdrawal_id, app_id, source, prev_state, next_state,
                                       detail)
        VALUES (p_id, v_app, 'runner', 'PROCESSING', 'PROCESSING', 'sending payment');
    END IF;
    SELECT w.state INTO state FROM withdrawals w WHERE w.id = p_id;
END
$$;

-- Success: COMPLETED with its evidence, payout and fee transfers; only by the lease holder.
CREATE FUNCTION fl_withdrawal_complete(p_id uuid, p_token bigint, p_fee bigint, p_detail text,
                                       OUT applied boolean, OUT state text)
LANGUAGE plpgsql AS $$
DECLARE
    w withdrawals;
    v_flight bigint;
    v_out bigint;
    v_fees bigint;
BEGIN
    SELECT * INTO w FROM withdrawals x WHERE x.id = p_id FOR UPDATE;
    applied := false;
    state := w.state;
    IF NOT FOUND OR w.state <> 'PROCESSING' OR w.lease_token IS DISTINCT FROM p_token THEN
        RETURN;
    END IF;
    v_flight := fl_account(w.app_id, 'WITHDRAWAL_INFLIGHT', '', w.asset);
    v_out := fl_account(w.app_id, 'PAID_OUT', '', w.asset);
    INSERT INTO transfers (app_id, debit_account, credit_account, asset, amount, kind, ref,
                           idempotency_key)
    VALUES (w.app_id, v_flight, v_out, w.asset, w.amount, 'WITHDRAWAL_PAYOUT', p_id::text,
            'withdrawal:payout:' || p_id::text);
    IF coalesce(p_fee, 0) > 0 THEN
        v_fees := fl_account(w.app_id, 'FEES', '', w.asset);
        INSERT INTO transfers (app_id, debit_account, credit_account, asset, amount, kind, ref,
                               idempotency_key)
        VALUES (w.app_id, v_fees, v_out, w.asset, p_fee, 'WITHDRAWAL_FEE', p_id::text,
                'withdrawal:fee:' || p_id::text);
    END IF;
    UPDATE withdrawals u
       SET state = 'COMPLETED', fee = coalesce(p_fee, 0), completed_at = clock_timestamp(),
           lease_until = NULL, lease_token = NULL, last_error = NULL
     WHERE u.id = p_id;
    INSERT INTO withdrawal_events (withdrawal_id, app_id, source, prev_state, next_state, detail)
    VALUES (p_id, w.app_id, 'runner', 'PROCESSING', 'COMPLETED', p_detail);
    applied := true;
    state := 'COMPLETED';
END
$$;

-- Definite failure: FAILED with its reason and the refund; only by the lease holder, and only
-- when no payment for this withdrawal can still succeed (the node refused it, or reports the
-- session Failed or absent while the holder's token proves nobody else has sent since).
CREATE FUNCTION fl_withdrawal_fail(p_id uuid, p_token bigint, p_reason text, p_error text,
                                   OUT applied boolean, OUT state text)
LANGUAGE plpgsql AS $$
DECLARE
    w withdrawals;
    v_flight bigint;
    v_user bigint;
BEGIN
    SELECT * INTO w FROM withdrawals x WHERE x.id = p_id FOR UPDATE;
    applied := false;
    state := w.state;
    IF NOT FOUND OR w.state <> 'PROCESSING' OR w.lease_token IS DISTINCT FROM p_token THEN
        RETURN;
    END IF;
    v_flight := fl_account(w.app_id, 'WITHDRAWAL_INFLIGHT', '', w.asset);
    v_user := fl_account(w.app_id, 'USER', w.user_id, w.asset);
    INSERT INTO transfers (app_id, debit_account, credit_account, asset, amount, kind, ref,
                           idempotency_key)
    VALUES (w.app_id, v_flight, v_user, w.asset, w.amount, 'WITHDRAWAL_REFUND', p_id::text,
            'withdrawal:refund:' || p_id::text);
    UPDATE withdrawals u
       SET state = 'FAILED', failure_reason = p_reason, last_error = p_error,
           completed_at = clock_timestamp(), lease_until = NULL, lease_token = NULL
     WHERE u.id = p_id;
    INSERT INTO withdrawal_events (withdrawal_id, app_id, source, prev_state, next_state, detail)
    VALUES (p_id, w.app_id, 'runner', 'PROCESSING', 'FAILED',
            p_reason || ': ' || coalesce(p_error, ''));
    applied := true;
    state := 'FAILED';
END
$$;

-- Transient trouble: back to RETRY_PENDING after p_delay_ms, one more retry counted; the lease
-- and its token end here.
CREATE FUNCTION fl_withdrawal_retry(p_id uuid, p_token bigint, p_error text, p_delay_ms integer,
                                    OUT applied boolean, OUT state text)
LANGUAGE plpgsql AS $$
DECLARE
    v_app text;
BEGIN
    UPDATE withdrawals w
       SET state = 'RETRY_PENDING', retry_count = w.retry_count + 1, last_error = p_error,
           next_attempt_at = now() + greatest(p_delay_ms, 0) * interval '1 millisecond',
           lease_until = NULL, lease_token = NULL
     WHERE w.id = p_id AND w.lease_token = p_token AND w.state = 'PROCESSING'
    RETURNING w.app_id INTO v_app;
    applied := FOUND;
    IF applied THEN
        INSERT INTO withdrawal_events (withdrawal_id, app_id, source, prev_state, next_state,
                                       detail)
        VALUES (p_id, v_app, 'runner', 'PROCESSING', 'RETRY_PENDING', p_error);
    END IF;
    SELECT w.state INTO state FROM withdrawals w WHERE w.id = p_id;
END
$$;
