-- An abandoned transaction may still be mined (issue 9, docs/onchain.md "Rejections"): the node
-- refused it and did not know it, but it had been accepted and propagated earlier, or someone else
-- holds its signed bytes. Its withdrawals were sent back to be rebuilt, so a rebuild that spends
-- other cells would pay them a second time. Two guards:
--   batch   a due withdrawal whose ABANDONED predecessors (transactions that carried it) could
--           still commit is rebuilt only into a transaction that spends one input of each of them,
--           so at most one of the two can ever commit; when no input of a predecessor is free
--           (already spent on chain, maybe by the predecessor itself, or held by another of our
--           transactions) the withdrawal waits.
--   revive  the follower asks the node about those predecessors; one the node has committed or
--           holds in its pool is taken back (ABANDONED → BROADCAST, the only way out of
--           ABANDONED, allowed by the triggers only inside fl_ckb_tx_revive) with its withdrawals
--           and inputs, and followed to confirmation like any other.
-- A predecessor is out of the picture once one of its inputs is SPENT: an input of a CONFIRMED
-- transaction of ours, so it can never commit.

-- ---- the inputs of a stored transaction ----

CREATE FUNCTION fl_le32(p bytea, p_at integer) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT get_byte(p, p_at)::bigint | (get_byte(p, p_at + 1)::bigint << 8)
           | (get_byte(p, p_at + 2)::bigint << 16) | (get_byte(p, p_at + 3)::bigint << 24)
$$;

-- The out points a signed molecule Transaction spends: Transaction = table {raw, witnesses};
-- RawTransaction = table {version, cell_deps, header_deps, inputs, outputs, outputs_data}; inputs
-- = fixvec of CellInput {since: 8 bytes, previous_output: {tx_hash: 32, index: u32 LE}}. The
-- bytes are the hub's own, checked against their hash when stored.
CREATE FUNCTION fl_ckb_tx_inputs(p_raw bytea) RETURNS TABLE (tx_hash text, idx integer)
LANGUAGE sql IMMUTABLE STRICT AS $$
    WITH r AS (SELECT fl_le32(p_raw, 4)::integer AS pos),
         i AS (SELECT r.pos + fl_le32(p_raw, r.pos + 16)::integer AS pos FROM r)
    SELECT '0x' || encode(substring(p_raw FROM i.pos + 4 + 44 * n + 9 FOR 32), 'hex'),
           fl_le32(p_raw, i.pos + 4 + 44 * n + 40)::integer
      FROM i, generate_series(0, fl_le32(p_raw, i.pos)::integer - 1) AS n
$$;

-- ---- the triggers: the one revive step ----

-- As in 0012, plus ABANDONED → BROADCAST while fl_ckb_tx_revive runs (transaction-local flag).
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
                AND current_setting('fiberlink.ckb_revive', true) = 'on') THEN
        RAISE EXCEPTION 'ckb tx %: illegal state change % -> %', OLD.tx_hash, OLD.state,
            NEW.state USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

-- As in 0012, plus GONE → SPENDING while fl_ckb_tx_revive runs: the revived transaction's input,
-- gone from the listing because that very transaction spent it.
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
                   AND current_setting('fiberlink.ckb_revive', true) = 'on') THEN
        RAISE EXCEPTION 'wallet cell %/%: illegal state change % -> %', OLD.tx_hash, OLD.idx,
            OLD.state, NEW.state USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

-- ---- batch ----

-- A free cell: LIVE, and not an output of one of our unconfirmed transactions (0012).
CREATE FUNCTION fl_wallet_cell_free(p_hash text, p_idx integer) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM wallet_cells c
                    WHERE c.tx_hash = p_hash AND c.idx = p_idx AND c.state = 'LIVE')
       AND NOT EXISTS (SELECT 1 FROM ckb_txs t WHERE t.tx_hash = p_hash
                          AND t.state IN ('SIGNED', 'BROADCAST', 'COMMITTED'))
$$;

-- The ABANDONED transactions that carried withdrawal p_wid and could still commit (none of their
-- inputs SPENT), and whether one of their inputs is free to be spent by the rebuild.
CREATE FUNCTION fl_ckb_predecessors(p_wid uuid) RETURNS TABLE (tx_id bigint, open boolean)
LANGUAGE sql STABLE AS $$
    SELECT t.id, EXISTS (SELECT 1 FROM fl_ckb_tx_inputs(t.raw) i
                          WHERE fl_wallet_cell_free(i.tx_hash, i.idx))
      FROM ckb_tx_outputs o JOIN ckb_txs t ON t.id = o.tx_id
     WHERE o.withdrawal_id = p_wid AND t.state = 'ABANDONED'
       AND NOT EXISTS (SELECT 1 FROM fl_ckb_tx_inputs(t.raw) i
                         JOIN wallet_cells c ON c.tx_hash = i.tx_hash AND c.idx = i.idx
                        WHERE c.state = 'SPENT')
$$;

-- As in 0012, with one more column, groups:
--   'W' rows: the predecessors (ckb_txs ids, comma-separated) of which the transaction paying it
--             must spend an input each; a withdrawal with a predecessor none of whose inputs is
--             free is not offered at all (it waits: its predecessor may be on chain);
--   'C' rows: the predecessors of the offered withdrawals this cell is an input of. Those cells
--             come first (before the largest-first order and the p_cells limit).
DROP FUNCTION fl_ckb_batch_take(integer, integer, integer);
CREATE FUNCTION fl_ckb_batch_take(p_limit integer, p_cells integer, p_lease_ms integer)
RETURNS TABLE (kind text, lease_token bigint, ref text, idx integer, amount bigint,
               lock_hex text, state text, pending_change bigint, groups text)
LANGUAGE plpgsql AS $$
DECLARE
    v_token   bigint;
    v_pending bigint;
    v_groups  bigint[] := '{}';
    r         record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM withdrawals w
                    WHERE w.destination_kind = 'CKB_ADDRESS'
                      AND w.state IN ('PENDING', 'RETRY_PENDING', 'LIQUIDITY_PENDING')
                      AND w.ckb_tx_id IS NULL AND w.next_attempt_at <= now()) THEN
        RETURN;
    END IF;
    UPDATE ckb_builder b
       SET lease_token = nextval('ckb_lease_token_seq'),
           lease_until = now() + p_lease_ms * interval '1 millisecond'
     WHERE b.lease_until IS NULL OR b.lease_until < now()
    RETURNING b.lease_token INTO v_token;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT coalesce(sum(t.change_capacity), 0)::bigint INTO v_pending FROM ckb_txs t
     WHERE t.state IN ('SIGNED', 'BROADCAST', 'COMMITTED');
    FOR r IN
        SELECT w.id, w.amount, w.lock_script, w.state AS wstate, p.needs
          FROM withdrawals w
          CROSS JOIN LATERAL (
              SELECT array_agg(x.tx_id ORDER BY x.tx_id) AS needs,
                     coalesce(bool_and(x.open), true) AS ok
                FROM fl_ckb_predecessors(w.id) x) p
         WHERE w.destination_kind = 'CKB_ADDRESS'
           AND w.state IN ('PENDING', 'RETRY_PENDING', 'LIQUIDITY_PENDING')
           AND w.ckb_tx_id IS NULL AND w.next_attempt_at <= now() AND p.ok
         ORDER BY w.created_at, w.id
         LIMIT p_limit
    LOOP
        kind := 'W';
        lease_token := v_token;
        ref := r.id::text;
        idx := NULL;
        amount := r.amount;
        lock_hex := encode(r.lock_script, 'hex');
        state := r.wstate;
        pending_change := v_pending;
        groups := array_to_string(r.needs, ',');
        RETURN NEXT;
        v_groups := v_groups || coalesce(r.needs, '{}');
    END LOOP;
    RETURN QUERY
    WITH must AS (
        SELECT i.tx_hash AS h, i.idx AS i, string_agg(t.id::text, ',' ORDER BY t.id) AS g
          FROM ckb_txs t CROSS JOIN LATERAL fl_ckb_tx_inputs(t.raw) i
         WHERE t.id = ANY (v_groups)
         GROUP BY i.tx_hash, i.idx)
    SELECT 'C'::text, v_token, c.tx_hash, c.idx, c.capacity, NULL::text, c.state, v_pending, m.g
      FROM wallet_cells c
      LEFT JOIN must m ON m.h = c.tx_hash AND m.i = c.idx
     WHERE c.state = 'LIVE'
       AND NOT EXISTS (SELECT 1 FROM ckb_txs t WHERE t.tx_hash = c.tx_hash
                          AND t.state IN ('SIGNED', 'BROADCAST', 'COMMITTED'))
     ORDER BY (m.g IS NULL), c.capacity DESC, c.tx_hash, c.idx
     LIMIT p_cells;
END
$$;

-- ---- follower: predecessors that may be on chain ----

-- ABANDONED transactions that carry a due, unassigned withdrawal and could still commit, each
-- under a fresh lease token, looked at again p_recheck_ms later: the follower asks the node
-- about each and revives the ones it has committed or holds.
CREATE FUNCTION fl_ckb_predecessor_claim(p_limit integer, p_lease_ms integer,
                                         p_recheck_ms integer)
RETURNS TABLE (id bigint, tx_hash text, lease_token bigint)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    WITH due AS (
        -- From the due withdrawals (a small, indexed set), not from every ABANDONED row ever.
        SELECT t.id FROM ckb_txs t
         WHERE t.id IN (SELECT o.tx_id FROM withdrawals w
                          JOIN ckb_tx_outputs o ON o.withdrawal_id = w.id
                         WHERE w.destination_kind = 'CKB_ADDRESS' AND w.ckb_tx_id IS NULL
                           AND w.state IN ('PENDING', 'RETRY_PENDING', 'LIQUIDITY_PENDING'))
           AND t.state = 'ABANDONED' AND t.next_check_at <= now()
           AND (t.lease_until IS NULL OR t.lease_until < now())
           AND NOT EXISTS (SELECT 1 FROM fl_ckb_tx_inputs(t.raw) i
                             JOIN wallet_cells c ON c.tx_hash = i.tx_hash AND c.idx = i.idx
                            WHERE c.state = 'SPENT')
         ORDER BY t.next_check_at
         LIMIT p_limit
         FOR UPDATE SKIP LOCKED)
    UPDATE ckb_txs t
       SET lease_token = nextval('ckb_lease_token_seq'),
           lease_until = now() + p_lease_ms * interval '1 millisecond',
           next_check_at = now() + p_recheck_ms * interval '1 millisecond'
      FROM due
     WHERE t.id = due.id
    RETURNING t.id, t.tx_hash, t.lease_token;
END
$$;

-- The node has committed (or holds in its pool) the ABANDONED transaction p_id: in ONE
-- transaction it is BROADCAST again (looked at at once; the follower takes it to COMMITTED and
-- CONFIRMED from the node's answers), its withdrawals PROCESSING in it again, its inputs SPENDING
-- by it. Only when every withdrawal it carries is still due and unassigned (one in a live rebuild
-- waits for that rebuild to fail: the two conflict) and no other live row has its hash; else
-- nothing changes (applied = false). Fenced by the lease of fl_ckb_predecessor_claim.
CREATE FUNCTION fl_ckb_tx_revive(p_id bigint, p_token bigint, p_reason text,
                                 OUT applied boolean, OUT state text)
LANGUAGE plpgsql AS $$
DECLARE
    t    ckb_txs;
    v_n  integer;
    v_ok integer;
BEGIN
    applied := false;
    SELECT * INTO t FROM ckb_txs x WHERE x.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    state := t.state;
    IF t.state <> 'ABANDONED' OR t.lease_token IS DISTINCT FROM p_token
       OR EXISTS (SELECT 1 FROM ckb_txs x WHERE x.tx_hash = t.tx_hash AND x.state <> 'ABANDONED')
       OR EXISTS (SELECT 1 FROM fl_ckb_tx_inputs(t.raw) i
                    JOIN wallet_cells c ON c.tx_hash = i.tx_hash AND c.idx = i.idx
                   WHERE c.state = 'SPENT') THEN
        RETURN;
    END IF;
    SELECT count(*) INTO v_n FROM ckb_tx_outputs o
     WHERE o.tx_id = p_id AND o.withdrawal_id IS NOT NULL;
    SELECT count(*) INTO v_ok FROM (
        SELECT w.id FROM withdrawals w JOIN ckb_tx_outputs o ON o.withdrawal_id = w.id
         WHERE o.tx_id = p_id AND w.ckb_tx_id IS NULL AND w.destination_kind = 'CKB_ADDRESS'
           AND w.state IN ('PENDING', 'RETRY_PENDING', 'LIQUIDITY_PENDING')
         ORDER BY w.id
           FOR UPDATE OF w) x;
    IF v_n = 0 OR v_ok <> v_n THEN
        RETURN;
    END IF;

    PERFORM set_config('fiberlink.ckb_revive', 'on', true);
    UPDATE ckb_txs x
       SET state = 'BROADCAST', block_number = NULL, block_hash = NULL, confirmations = NULL,
           last_error = p_reason, next_check_at = now(), lease_until = NULL
     WHERE x.id = p_id;
    UPDATE wallet_cells c SET state = 'SPENDING', spent_by = p_id
      FROM fl_ckb_tx_inputs(t.raw) i
     WHERE c.tx_hash = i.tx_hash AND c.idx = i.idx AND c.state IN ('LIVE', 'GONE', 'SPENDING');
    PERFORM set_config('fiberlink.ckb_revive', 'off', true);

    INSERT INTO withdrawal_events (withdrawal_id, app_id, source, prev_state, next_state, detail)
    SELECT w.id, w.app_id, 'onchain', w.state, 'PROCESSING',
           'abandoned transaction ' || t.tx_hash || ' output ' || o.output_index ||
           ' taken back: ' || p_reason
      FROM withdrawals w JOIN ckb_tx_outputs o ON o.withdrawal_id = w.id
     WHERE o.tx_id = p_id;
    UPDATE withdrawals w
       SET state = 'PROCESSING', ckb_tx_id = p_id, tx_hash = t.tx_hash, confirmations = NULL,
           lease_until = NULL, lease_token = NULL, last_error = NULL
      FROM ckb_tx_outputs o
     WHERE o.tx_id = p_id AND o.withdrawal_id = w.id;
    applied := true;
    state := 'BROADCAST';
END
$$;
