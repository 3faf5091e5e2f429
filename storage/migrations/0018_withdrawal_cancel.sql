-- withdrawals.cancel (API.md "Admin API", issue 10): an operator ends a withdrawal that nothing
-- could have paid yet; it becomes FAILED with failure_reason CANCELLED_BY_ADMIN and its reservation
-- goes back to the user, exactly once.
--
-- "Nothing could have paid it" is decided from what the payers record BEFORE they pay:
--   Fiber     the runner claims the row (PROCESSING, under a lease) and then, before EVERY
--             send_payment, commits send_started_at in a fenced mark (0006); a send follows only a
--             mark that applied. So a row that is not PROCESSING and has no send_started_at was
--             never sent, and cannot be sent without a claim first.
--   on-chain  the batch commits the signed transaction, its outputs (ckb_tx_outputs) and the
--             withdrawals' move to PROCESSING in ONE transaction before broadcasting it (0012). A
--             withdrawal with an output in any transaction, whatever that transaction's state, is
--             never cancelled: an ABANDONED transaction may still be mined (0013), and its rebuild
--             pays the withdrawal otherwise.
-- Cancellable: PENDING, RETRY_PENDING and LIQUIDITY_PENDING rows with no send_started_at and no
-- ckb_tx_outputs row. PROCESSING is never cancellable, even before its first send: a claim was
-- made, and the claimer may be about to send.
--
-- Races. fl_withdrawal_cancel locks the row (FOR UPDATE) and decides under that lock:
--   cancel vs Fiber claim  the claim takes rows FOR UPDATE SKIP LOCKED, and only PENDING or
--                          RETRY_PENDING ones: it skips a row the cancel holds, and finds it FAILED
--                          afterwards; a cancel that waits for a claim's lock re-reads the row and
--                          finds it PROCESSING (refused).
--   cancel vs batch        fl_ckb_batch_commit locks its withdrawals FOR UPDATE and requires each
--                          to be still due and unassigned: a cancelled one makes it answer
--                          WITHDRAWAL_TAKEN (nothing stored, nothing broadcast); a cancel that
--                          waits for the batch's lock re-reads a PROCESSING row with an output.
--   cancel vs cancel       the second waits for the first, then answers as for a repeat.
-- And, whoever writes: the trigger below lets a row reach FAILED from outside PROCESSING only
-- inside fl_withdrawal_cancel, and only as CANCELLED_BY_ADMIN; a cancelled row can never have
-- send_started_at (CHECK), and no transaction output can be added for a final withdrawal.
--
-- The refund is the runner's own (0006 fl_withdrawal_fail): WITHDRAWAL_INFLIGHT → USER for the
-- amount, idempotency key 'withdrawal:refund:<id>' (transfers.idempotency_key is UNIQUE), so a
-- withdrawal is refunded at most once whichever path runs. Only the amount was reserved at request
-- time: fees are borne by the hub and moved only at completion, so there is no reserved fee to
-- give back.
--
-- A repeated cancel of a withdrawal already cancelled answers ALREADY_CANCELLED with the amount
-- that cancel refunded: no second refund, no second event, no second audit row (nothing changed).

-- ---- the state machine: as in 0006 and 0010, plus the cancel step ----

CREATE OR REPLACE FUNCTION fl_withdrawal_check_transition() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    -- coalesce: a setting never set in this session reads NULL, and NULL must mean "off".
    v_cancel boolean := coalesce(current_setting('fiberlink.withdrawal_cancel', true), '') = 'on';
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.state <> 'PENDING' THEN
            RAISE EXCEPTION 'withdrawal %: a new withdrawal starts PENDING, not %', NEW.id,
                NEW.state USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.state IS DISTINCT FROM OLD.state
       AND NOT fl_withdrawal_transition_allowed(OLD.state, NEW.state)
       AND NOT (v_cancel AND NEW.state = 'FAILED'
                AND OLD.state IN ('PENDING', 'RETRY_PENDING', 'LIQUIDITY_PENDING')
                AND NEW.failure_reason = 'CANCELLED_BY_ADMIN') THEN
        RAISE EXCEPTION 'withdrawal %: illegal state change % -> %', OLD.id, OLD.state, NEW.state
            USING ERRCODE = 'check_violation';
    END IF;
    -- Only the cancel says "cancelled by an admin": a runner's failure never borrows the reason.
    IF NEW.failure_reason = 'CANCELLED_BY_ADMIN'
       AND OLD.failure_reason IS DISTINCT FROM NEW.failure_reason AND NOT v_cancel THEN
        RAISE EXCEPTION 'withdrawal %: CANCELLED_BY_ADMIN is set only by fl_withdrawal_cancel',
            OLD.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

-- The reason is watched too, so that no UPDATE, with or without a change of state, writes it.
DROP TRIGGER withdrawals_state_machine ON withdrawals;
CREATE TRIGGER withdrawals_state_machine BEFORE INSERT OR UPDATE OF state, failure_reason
    ON withdrawals FOR EACH ROW EXECUTE FUNCTION fl_withdrawal_check_transition();

-- A cancelled withdrawal was never sent to the node.
ALTER TABLE withdrawals ADD CONSTRAINT withdrawals_cancelled_unsent_check
    CHECK (failure_reason IS DISTINCT FROM 'CANCELLED_BY_ADMIN' OR send_started_at IS NULL);

-- As in 0012 (never two live outputs for one withdrawal), plus: never an output for a withdrawal
-- that is already final (COMPLETED, or FAILED: cancelled). fl_ckb_batch_commit checks this itself
-- under its row locks; this holds it for every writer.
CREATE OR REPLACE FUNCTION fl_ckb_output_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.withdrawal_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM ckb_tx_outputs o JOIN ckb_txs t ON t.id = o.tx_id
         WHERE o.withdrawal_id = NEW.withdrawal_id AND o.tx_id <> NEW.tx_id
           AND t.state <> 'ABANDONED') THEN
        RAISE EXCEPTION 'withdrawal % is already in a live transaction', NEW.withdrawal_id
            USING ERRCODE = 'unique_violation';
    END IF;
    IF NEW.withdrawal_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM withdrawals w
         WHERE w.id = NEW.withdrawal_id AND w.state IN ('COMPLETED', 'FAILED')) THEN
        RAISE EXCEPTION 'withdrawal % is final: no transaction may pay it', NEW.withdrawal_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

-- ---- the cancel ----

-- One call, one transaction. p_scope: the caller's apps (a COMMUNITY_ADMIN's), NULL for every app;
-- a withdrawal of another app is NOT_FOUND, exactly as a missing one. p_actor and p_params go to the
-- audit row (p_params without secrets, as the daemon passes them).
-- outcome:
--   CANCELLED            done now: FAILED CANCELLED_BY_ADMIN, refunded, one event, one audit row
--   ALREADY_CANCELLED    cancelled before; refunded is that cancel's refund; nothing written
--   NOT_FOUND            no such withdrawal in scope
--   NOT_CANCELLABLE      its state (PROCESSING, COMPLETED, FAILED for another reason) forbids it
--   PAYMENT_ATTEMPTED    send_payment was attempted for it (send_started_at is set)
--   ONCHAIN_TRANSACTION  it is or was in an on-chain transaction (tx_hash, tx_state: the latest)
-- The other columns describe the row as found (state, failure_reason: before the cancel; for
-- CANCELLED and ALREADY_CANCELLED the row after it), or are NULL for NOT_FOUND.
CREATE FUNCTION fl_withdrawal_cancel(p_id uuid, p_actor text, p_scope text[], p_params jsonb,
                                     OUT outcome text, OUT app_id text, OUT asset text,
                                     OUT state text, OUT failure_reason text, OUT refunded bigint,
                                     OUT retry_count integer, OUT tx_hash text,
                                     OUT tx_state text, OUT audit_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
    w          withdrawals;
    v_reserved bigint;
    v_flight   bigint;
    v_user     bigint;
    v_before   jsonb;
BEGIN
    SELECT * INTO w FROM withdrawals x
     WHERE x.id = p_id AND (p_scope IS NULL OR x.app_id = ANY (p_scope))
       FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'NOT_FOUND';
        RETURN;
    END IF;
    app_id := w.app_id;
    asset := w.asset;
    state := w.state;
    failure_reason := w.failure_reason;
    retry_count := w.retry_count;

    IF w.state = 'FAILED' AND w.failure_reason = 'CANCELLED_BY_ADMIN' THEN
        SELECT t.amount INTO refunded FROM transfers t
         WHERE t.idempotency_key = 'withdrawal:refund:' || p_id::text;
        outcome := 'ALREADY_CANCELLED';
        RETURN;
    END IF;
    IF w.state NOT IN ('PENDING', 'RETRY_PENDING', 'LIQUIDITY_PENDING') THEN
        outcome := 'NOT_CANCELLABLE';
        RETURN;
    END IF;
    IF w.send_started_at IS NOT NULL THEN
        outcome := 'PAYMENT_ATTEMPTED';
        RETURN;
    END IF;
    SELECT t.tx_hash, t.state INTO tx_hash, tx_state
      FROM ckb_tx_outputs o JOIN ckb_txs t ON t.id = o.tx_id
     WHERE o.withdrawal_id = p_id
     ORDER BY t.id DESC
     LIMIT 1;
    IF FOUND OR w.ckb_tx_id IS NOT NULL THEN
        outcome := 'ONCHAIN_TRANSACTION';
        RETURN;
    END IF;

    -- What the request reserved is what goes back; anything else is a broken ledger: refuse.
    SELECT t.amount INTO v_reserved FROM transfers t
     WHERE t.idempotency_key = 'withdrawal:reserve:' || p_id::text;
    IF v_reserved IS DISTINCT FROM w.amount THEN
        RAISE EXCEPTION 'withdrawal %: reserved % but amount is %', p_id, v_reserved, w.amount
            USING ERRCODE = 'check_violation';
    END IF;

    v_flight := fl_account(w.app_id, 'WITHDRAWAL_INFLIGHT', '', w.asset);
    v_user := fl_account(w.app_id, 'USER', w.user_id, w.asset);
    -- The runner's refund, same key: a second refund by any path fails on the unique key.
    INSERT INTO transfers (app_id, debit_account, credit_account, asset, amount, kind, ref,
                           idempotency_key)
    VALUES (w.app_id, v_flight, v_user, w.asset, w.amount, 'WITHDRAWAL_REFUND', p_id::text,
            'withdrawal:refund:' || p_id::text);

    PERFORM set_config('fiberlink.withdrawal_cancel', 'on', true);
    UPDATE withdrawals u
       SET state = 'FAILED', failure_reason = 'CANCELLED_BY_ADMIN',
           last_error = 'cancelled by admin ' || p_actor, completed_at = clock_timestamp(),
           lease_until = NULL, lease_token = NULL
     WHERE u.id = p_id;
    PERFORM set_config('fiberlink.withdrawal_cancel', 'off', true);

    INSERT INTO withdrawal_events (withdrawal_id, app_id, source, prev_state, next_state, detail)
    VALUES (p_id, w.app_id, 'admin', w.state, 'FAILED',
            'CANCELLED_BY_ADMIN by ' || p_actor || '; refunded ' || w.amount);

    -- Amounts in base units, as text (exact in any JSON reader).
    v_before := jsonb_build_object(
        'id', w.id, 'appId', w.app_id, 'userId', w.user_id, 'asset', w.asset,
        'amount', w.amount::text, 'destinationKind', w.destination_kind, 'state', w.state,
        'failureReason', w.failure_reason, 'retryCount', w.retry_count);
    audit_id := fl_audit(p_actor, 'withdrawals.cancel', w.app_id, p_id::text, p_params, v_before,
                         v_before || jsonb_build_object('state', 'FAILED', 'failureReason',
                                                        'CANCELLED_BY_ADMIN', 'refunded',
                                                        w.amount::text));
    state := 'FAILED';
    failure_reason := 'CANCELLED_BY_ADMIN';
    refunded := w.amount;
    outcome := 'CANCELLED';
END
$$;

-- ---- 0013's revive flag, read the same way ----
-- current_setting(name, true) is NULL in a session that never set the flag, and 0013 compared it
-- with '= on' inside NOT (...): NULL there made the whole IF NULL, so the triggers let ANY writer
-- in such a session move a transaction ABANDONED → BROADCAST or a cell GONE → SPENDING. The same
-- checks, with NULL read as "off" (test_withdrawal_cancel.py, test_revive_flag_unset_is_off).

CREATE OR REPLACE FUNCTION fl_ckb_tx_check_transition() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.state <> 'SIGNED' THEN
            RAISE EXCEPTION 'ckb tx %: a new transaction starts SIGNED, not %', NEW.tx_hash,
                NEW.state USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.raw IS DISTINCT FROM OLD.raw OR NEW.tx_hash IS DISTINCT FROM OLD.tx_hash
       OR NEW.fee IS DISTINCT FROM OLD.fee THEN
        RAISE EXCEPTION 'ckb tx %: the signed transaction never changes', OLD.tx_hash
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.state IS DISTINCT FROM OLD.state
       AND NOT fl_ckb_tx_transition_allowed(OLD.state, NEW.state)
       AND NOT ((OLD.state, NEW.state) = ('ABANDONED', 'BROADCAST')
                AND coalesce(current_setting('fiberlink.ckb_revive', true), '') = 'on') THEN
        RAISE EXCEPTION 'ckb tx %: illegal state change % -> %', OLD.tx_hash, OLD.state,
            NEW.state USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION fl_wallet_cell_check_transition() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.state <> 'LIVE' THEN
            RAISE EXCEPTION 'wallet cell %/%: a new cell starts LIVE', NEW.tx_hash, NEW.idx
                USING ERRCODE = 'check_violation';
        END IF;
    ELSIF NEW.state IS DISTINCT FROM OLD.state
          AND (OLD.state, NEW.state) NOT IN (('LIVE', 'SPENDING'), ('SPENDING', 'SPENT'),
                                             ('SPENDING', 'LIVE'), ('SPENDING', 'GONE'),
                                             ('LIVE', 'GONE'), ('GONE', 'LIVE'))
          AND NOT ((OLD.state, NEW.state) = ('GONE', 'SPENDING')
                   AND coalesce(current_setting('fiberlink.ckb_revive', true), '') = 'on') THEN
        RAISE EXCEPTION 'wallet cell %/%: illegal state change % -> %', OLD.tx_hash, OLD.idx,
            OLD.state, NEW.state USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
