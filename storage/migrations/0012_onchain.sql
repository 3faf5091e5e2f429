-- On-chain CKB payouts (issue 9, ARCHITECTURE.md 7 "On-chain payouts"): the hot wallet's cells,
-- the transactions the hub signs, and the runner's steps (timers/onchain.c), each one plpgsql
-- function called as one statement, so each commits or not as a whole.
--
-- The life of a payout:
--   batch   one builder at a time (the ckb_builder lease) takes due address withdrawals and the
--           wallet's free cells, builds and signs one transaction in C, then ONE commit stores the
--           signed bytes and their hash (ckb_txs SIGNED), the outputs, the spent cells (SPENDING)
--           and the withdrawals (PROCESSING, ckb_tx_id) — or nothing, when the builder lost its
--           lease or another transaction took a cell or a withdrawal meanwhile.
--   follow  a claimed transaction (fresh lease token, SKIP LOCKED) is stepped by its node's
--           answers: the stored bytes are sent (never re-signed: a restart re-sends the same
--           transaction), BROADCAST, COMMITTED with its block, back to BROADCAST on a reorg, and
--           CONFIRMED at depth: then the withdrawals are COMPLETED with their ledger transfers,
--           exactly as the Fiber runner's fl_withdrawal_complete does (0006).
--   abandon only once the node says the transaction cannot confirm: its withdrawals go back to
--           RETRY_PENDING (rebuilt in a new transaction), its cells back to LIVE (or GONE when an
--           input was dead). Nothing is refunded automatically: a refused transaction paid
--           nobody and the withdrawal is simply paid by the next one (an admin cancel comes with
--           issue 10).
-- Every write after a claim is fenced: WHERE id = p_id AND lease_token = p_token AND state =
-- p_from; a stale token changes nothing and answers applied = false.

-- Tokens of the builder lease and of transaction leases; they only grow.
CREATE SEQUENCE ckb_lease_token_seq;

CREATE TABLE ckb_txs (
    id              bigserial PRIMARY KEY,
    tx_hash         text NOT NULL CHECK (tx_hash ~ '^0x[0-9a-f]{64}$'),
    -- The signed molecule Transaction, exactly the bytes broadcast (and re-broadcast).
    raw             bytea NOT NULL,
    state           text NOT NULL
                    CHECK (state IN ('SIGNED', 'BROADCAST', 'COMMITTED', 'CONFIRMED', 'ABANDONED')),
    fee             bigint NOT NULL CHECK (fee >= 0),  -- Σinputs − Σoutputs, shannons
    size            integer NOT NULL CHECK (size > 0), -- serialized_size_in_block
    change_capacity bigint NOT NULL DEFAULT 0 CHECK (change_capacity >= 0),
    lease_token     bigint,
    lease_until     timestamptz,
    next_check_at   timestamptz NOT NULL DEFAULT now(),
    block_number    bigint CHECK (block_number >= 0),
    block_hash      text,
    confirmations   integer CHECK (confirmations >= 0),
    send_count      integer NOT NULL DEFAULT 0,
    last_sent_at    timestamptz,
    last_error      text,
    abandon_reason  text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    confirmed_at    timestamptz,
    abandoned_at    timestamptz,
    CHECK (state <> 'CONFIRMED' OR (confirmed_at IS NOT NULL AND block_number IS NOT NULL)),
    CHECK (state <> 'ABANDONED' OR (abandoned_at IS NOT NULL AND abandon_reason IS NOT NULL))
);
-- One live row per hash. An abandoned transaction's withdrawals may be rebuilt into exactly the
-- same bytes (same cells, same outputs, deterministic signature): that is the same transaction,
-- which can be committed at most once, so a new row for it is safe.
CREATE UNIQUE INDEX ckb_txs_live_hash_idx ON ckb_txs (tx_hash) WHERE state <> 'ABANDONED';
CREATE INDEX ckb_txs_hash_idx ON ckb_txs (tx_hash);
CREATE INDEX ckb_txs_due_idx ON ckb_txs (next_check_at)
    WHERE state IN ('SIGNED', 'BROADCAST', 'COMMITTED');

-- One row per output: the payouts (withdrawal_id set) and the change (withdrawal_id NULL).
CREATE TABLE ckb_tx_outputs (
    tx_id         bigint NOT NULL REFERENCES ckb_txs (id),
    output_index  integer NOT NULL CHECK (output_index >= 0),
    withdrawal_id uuid REFERENCES withdrawals (id),
    capacity      bigint NOT NULL CHECK (capacity > 0),
    lock_script   bytea NOT NULL,
    PRIMARY KEY (tx_id, output_index),
    UNIQUE (tx_id, withdrawal_id)
);
CREATE INDEX ckb_tx_outputs_withdrawal_idx ON ckb_tx_outputs (withdrawal_id)
    WHERE withdrawal_id IS NOT NULL;

-- The hot wallet's cells as the node's indexer last showed them, and what the hub did with them:
--   LIVE      seen live, free to spend
--   SPENDING  an input of one of our transactions not yet confirmed (spent_by)
--   SPENT     an input of a CONFIRMED transaction
--   GONE      not seen live any more (spent elsewhere, or a dead input of an abandoned tx); a
--             later sync that sees it live again revives it
CREATE TABLE wallet_cells (
    tx_hash      text NOT NULL CHECK (tx_hash ~ '^0x[0-9a-f]{64}$'),
    idx          integer NOT NULL CHECK (idx >= 0),
    capacity     bigint NOT NULL CHECK (capacity > 0),
    block_number bigint NOT NULL,
    state        text NOT NULL CHECK (state IN ('LIVE', 'SPENDING', 'SPENT', 'GONE')),
    spent_by     bigint REFERENCES ckb_txs (id),
    seen_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tx_hash, idx),
    CHECK ((state IN ('SPENDING', 'SPENT')) = (spent_by IS NOT NULL))
);
CREATE INDEX wallet_cells_spent_by_idx ON wallet_cells (spent_by) WHERE spent_by IS NOT NULL;

-- Only one daemon builds a batch at a time; its commit names the token it took.
CREATE TABLE ckb_builder (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    lease_token bigint,
    lease_until timestamptz
);
INSERT INTO ckb_builder DEFAULT VALUES;

ALTER TABLE withdrawals ADD CONSTRAINT withdrawals_ckb_tx_fk
    FOREIGN KEY (ckb_tx_id) REFERENCES ckb_txs (id);
CREATE INDEX withdrawals_ckb_tx_idx ON withdrawals (ckb_tx_id) WHERE ckb_tx_id IS NOT NULL;
CREATE INDEX withdrawals_onchain_due_idx ON withdrawals (created_at)
    WHERE destination_kind = 'CKB_ADDRESS'
      AND state IN ('PENDING', 'RETRY_PENDING', 'LIQUIDITY_PENDING') AND ckb_tx_id IS NULL;

-- The transaction state machine, for every writer:
--   (insert)   → SIGNED
--   SIGNED     → BROADCAST   the node took it (or already had it)
--   SIGNED     → COMMITTED   a refused send whose transaction the node reports committed
--   SIGNED     → ABANDONED   refused, and the node does not know it
--   BROADCAST  → COMMITTED   in a block
--   BROADCAST  → ABANDONED   rejected, or unknown after a refused re-send
--   COMMITTED  → BROADCAST   its block left the canonical chain (reorg)
--   COMMITTED  → CONFIRMED   deep enough: the withdrawals are paid
-- CONFIRMED and ABANDONED are final. The signed bytes and the hash never change.
CREATE FUNCTION fl_ckb_tx_transition_allowed(p_from text, p_to text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT (p_from, p_to) IN (('SIGNED', 'BROADCAST'), ('SIGNED', 'COMMITTED'),
                              ('SIGNED', 'ABANDONED'), ('BROADCAST', 'COMMITTED'),
                              ('BROADCAST', 'ABANDONED'), ('COMMITTED', 'BROADCAST'),
                              ('COMMITTED', 'CONFIRMED'))
$$;

CREATE FUNCTION fl_ckb_tx_check_transition() RETURNS trigger
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
       AND NOT fl_ckb_tx_transition_allowed(OLD.state, NEW.state) THEN
        RAISE EXCEPTION 'ckb tx %: illegal state change % -> %', OLD.tx_hash, OLD.state,
            NEW.state USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER ckb_txs_state_machine BEFORE INSERT OR UPDATE ON ckb_txs
    FOR EACH ROW EXECUTE FUNCTION fl_ckb_tx_check_transition();

-- Cells: LIVE → SPENDING → SPENT | LIVE | GONE; LIVE ↔ GONE by the sync. SPENT is final.
CREATE FUNCTION fl_wallet_cell_check_transition() RETURNS trigger
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
                                             ('LIVE', 'GONE'), ('GONE', 'LIVE')) THEN
        RAISE EXCEPTION 'wallet cell %/%: illegal state change % -> %', OLD.tx_hash, OLD.idx,
            OLD.state, NEW.state USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER wallet_cells_state_machine BEFORE INSERT OR UPDATE OF state ON wallet_cells
    FOR EACH ROW EXECUTE FUNCTION fl_wallet_cell_check_transition();

-- Defence in depth for "never two live spends of one withdrawal": an output for a withdrawal
-- that already has one in a transaction that is not ABANDONED is refused, whoever writes it.
CREATE FUNCTION fl_ckb_output_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.withdrawal_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM ckb_tx_outputs o JOIN ckb_txs t ON t.id = o.tx_id
         WHERE o.withdrawal_id = NEW.withdrawal_id AND o.tx_id <> NEW.tx_id
           AND t.state <> 'ABANDONED') THEN
        RAISE EXCEPTION 'withdrawal % is already in a live transaction', NEW.withdrawal_id
            USING ERRCODE = 'unique_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER ckb_tx_outputs_one_live BEFORE INSERT OR UPDATE ON ckb_tx_outputs
    FOR EACH ROW EXECUTE FUNCTION fl_ckb_output_check();

-- ---- wallet sync ----

-- A COMPLETE listing of the wallet's live cells (every page of get_cells, in four parallel
-- arrays): upsert each as LIVE (a GONE one seen again is LIVE again), and every LIVE cell not in
-- the listing becomes GONE. SPENDING and SPENT cells are never touched: they belong to our own
-- transactions, whose steps move them. Answers how many cells were added, revived and gone.
CREATE FUNCTION fl_wallet_sync(p_hashes text[], p_idx integer[], p_caps bigint[],
                               p_blocks bigint[], OUT added integer, OUT revived integer,
                               OUT gone integer)
LANGUAGE plpgsql AS $$
BEGIN
    -- One sync at a time (two daemons' listings of different moments must not interleave).
    PERFORM pg_advisory_xact_lock(hashtextextended('wallet-sync', 0));
    WITH ins AS (
        INSERT INTO wallet_cells (tx_hash, idx, capacity, block_number, state)
        SELECT DISTINCT ON (s.h, s.i) s.h, s.i, s.cap, s.blk, 'LIVE'
          FROM unnest(p_hashes, p_idx, p_caps, p_blocks) AS s(h, i, cap, blk)
        ON CONFLICT (tx_hash, idx) DO NOTHING
        RETURNING 1)
    SELECT count(*) INTO added FROM ins;
    UPDATE wallet_cells c SET state = 'LIVE', seen_at = now()
      FROM unnest(p_hashes, p_idx) AS s(h, i)
     WHERE c.tx_hash = s.h AND c.idx = s.i AND c.state = 'GONE';
    GET DIAGNOSTICS revived = ROW_COUNT;
    UPDATE wallet_cells c SET state = 'GONE', seen_at = now()
     WHERE c.state = 'LIVE'
       AND NOT EXISTS (SELECT 1 FROM unnest(p_hashes, p_idx) AS s(h, i)
                        WHERE s.h = c.tx_hash AND s.i = c.idx);
    GET DIAGNOSTICS gone = ROW_COUNT;
END
$$;

-- ---- batch ----

-- Takes the builder lease (when free or expired) if any address withdrawal is due, and answers,
-- under that token: the due withdrawals (kind 'W': ref = id, amount, lock_hex = the molecule
-- lock script in hex, state), oldest first, at most p_limit; then the free cells (kind 'C': ref =
-- tx hash, idx, amount = capacity), largest first, at most p_cells. A free cell is LIVE and not an
-- output of one of our own unconfirmed transactions (never spend unconfirmed outputs: a reorg
-- would take the child with the parent); the change of those transactions is pending_change, on
-- every row. No row: nothing due, or another daemon is building.
CREATE FUNCTION fl_ckb_batch_take(p_limit integer, p_cells integer, p_lease_ms integer)
RETURNS TABLE (kind text, lease_token bigint, ref text, idx integer, amount bigint,
               lock_hex text, state text, pending_change bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_token   bigint;
    v_pending bigint;
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
    RETURN QUERY
    SELECT 'W'::text, v_token, w.id::text, NULL::integer, w.amount, encode(w.lock_script, 'hex'),
           w.state, v_pending
      FROM withdrawals w
     WHERE w.destination_kind = 'CKB_ADDRESS'
       AND w.state IN ('PENDING', 'RETRY_PENDING', 'LIQUIDITY_PENDING')
       AND w.ckb_tx_id IS NULL AND w.next_attempt_at <= now()
     ORDER BY w.created_at, w.id
     LIMIT p_limit;
    RETURN QUERY
    SELECT 'C'::text, v_token, c.tx_hash, c.idx, c.capacity, NULL::text, c.state, v_pending
      FROM wallet_cells c
     WHERE c.state = 'LIVE'
       AND NOT EXISTS (SELECT 1 FROM ckb_txs t WHERE t.tx_hash = c.tx_hash
                          AND t.state IN ('SIGNED', 'BROADCAST', 'COMMITTED'))
     ORDER BY c.capacity DESC, c.tx_hash, c.idx
     LIMIT p_cells;
END
$$;

-- The batch's ONE commit. Under the builder token p_token:
--   p_raw_hex NULL: no transaction (nothing coverable), only the liquidity marks;
--   else: every withdrawal p_wids[i] must still be a due, unassigned address withdrawal of
--   exactly amount p_caps[i] and lock p_locks[i]; every cell (p_cell_hashes[i], p_cell_idx[i])
--   must still be LIVE. Then: the ckb_txs row (SIGNED, leased to the caller under a new token),
--   its outputs (payouts at p_out_idx[i], the change at p_change_index when p_change > 0), the
--   cells SPENDING, the withdrawals PROCESSING with ckb_tx_id and tx_hash, their events.
-- p_liquidity: withdrawals the wallet cannot cover, PENDING|RETRY_PENDING → LIQUIDITY_PENDING.
-- The builder lease ends here whatever the outcome (but LEASE_LOST, which is someone else's).
-- outcome: APPLIED | LEASE_LOST | WITHDRAWAL_TAKEN | CELL_TAKEN; only APPLIED wrote anything
-- besides releasing the lease.
CREATE FUNCTION fl_ckb_batch_commit(
    p_token bigint, p_tx_hash text, p_raw_hex text, p_fee bigint, p_size integer,
    p_change bigint, p_change_index integer, p_change_lock_hex text,
    p_wids uuid[], p_out_idx integer[], p_caps bigint[], p_locks text[],
    p_cell_hashes text[], p_cell_idx integer[], p_liquidity uuid[], p_lease_ms integer,
    OUT outcome text, OUT tx_id bigint, OUT tx_token bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_cur   bigint;
    v_n     integer;
BEGIN
    SELECT b.lease_token INTO v_cur FROM ckb_builder b FOR UPDATE;
    IF v_cur IS DISTINCT FROM p_token THEN
        outcome := 'LEASE_LOST';
        RETURN;
    END IF;
    -- Ends the lease; a repeated call with the same token (after an unknown outcome) is refused.
    UPDATE ckb_builder SET lease_token = NULL, lease_until = NULL;

    IF p_raw_hex IS NOT NULL THEN
        SELECT count(*) INTO v_n FROM (
            SELECT w.id FROM withdrawals w
              JOIN unnest(p_wids, p_caps, p_locks) AS b(id, cap, lock) ON b.id = w.id
             WHERE w.destination_kind = 'CKB_ADDRESS'
               AND w.state IN ('PENDING', 'RETRY_PENDING', 'LIQUIDITY_PENDING')
               AND w.ckb_tx_id IS NULL AND w.amount = b.cap
               AND w.lock_script = decode(b.lock, 'hex')
             ORDER BY w.id
               FOR UPDATE OF w) x;
        IF v_n <> cardinality(p_wids) OR cardinality(p_wids) = 0 THEN
            outcome := 'WITHDRAWAL_TAKEN';
            RETURN;
        END IF;
        SELECT count(*) INTO v_n FROM (
            SELECT c.tx_hash FROM wallet_cells c
              JOIN unnest(p_cell_hashes, p_cell_idx) AS s(h, i) ON s.h = c.tx_hash AND s.i = c.idx
             WHERE c.state = 'LIVE'
             ORDER BY c.tx_hash, c.idx
               FOR UPDATE OF c) x;
        IF v_n <> cardinality(p_cell_hashes) OR cardinality(p_cell_hashes) = 0 THEN
            outcome := 'CELL_TAKEN';
            RETURN;
        END IF;

        INSERT INTO ckb_txs (tx_hash, raw, state, fee, size, change_capacity, lease_token,
                             lease_until)
        VALUES (p_tx_hash, decode(p_raw_hex, 'hex'), 'SIGNED', p_fee, p_size, p_change,
                nextval('ckb_lease_token_seq'), now() + p_lease_ms * interval '1 millisecond')
        RETURNING id, lease_token INTO tx_id, tx_token;
        INSERT INTO ckb_tx_outputs (tx_id, output_index, withdrawal_id, capacity, lock_script)
        SELECT tx_id, b.i, b.id, b.cap, decode(b.lock, 'hex')
          FROM unnest(p_wids, p_out_idx, p_caps, p_locks) AS b(id, i, cap, lock);
        IF p_change > 0 THEN
            INSERT INTO ckb_tx_outputs (tx_id, output_index, withdrawal_id, capacity, lock_script)
            VALUES (tx_id, p_change_index, NULL, p_change, decode(p_change_lock_hex, 'hex'));
        END IF;
        UPDATE wallet_cells c SET state = 'SPENDING', spent_by = tx_id
          FROM unnest(p_cell_hashes, p_cell_idx) AS s(h, i)
         WHERE c.tx_hash = s.h AND c.idx = s.i;
        INSERT INTO withdrawal_events (withdrawal_id, app_id, source, prev_state, next_state,
                                       detail)
        SELECT w.id, w.app_id, 'onchain', w.state, 'PROCESSING',
               'signed into transaction ' || p_tx_hash || ' output ' || b.i
          FROM withdrawals w JOIN unnest(p_wids, p_out_idx) AS b(id, i) ON b.id = w.id;
        UPDATE withdrawals w
           SET state = 'PROCESSING', ckb_tx_id = tx_id, tx_hash = p_tx_hash, confirmations = NULL,
               lease_until = NULL, lease_token = NULL, last_error = NULL
         WHERE w.id = ANY (p_wids);
    END IF;

    IF cardinality(p_liquidity) > 0 THEN
        WITH old AS (
            SELECT w.id, w.state FROM withdrawals w
             WHERE w.id = ANY (p_liquidity) AND w.state IN ('PENDING', 'RETRY_PENDING')
               AND w.ckb_tx_id IS NULL AND w.destination_kind = 'CKB_ADDRESS'
               FOR UPDATE),
        moved AS (
            UPDATE withdrawals w SET state = 'LIQUIDITY_PENDING'
              FROM old WHERE w.id = old.id
            RETURNING w.id, w.app_id, old.state AS prev)
        INSERT INTO withdrawal_events (withdrawal_id, app_id, source, prev_state, next_state,
                                       detail)
        SELECT m.id, m.app_id, 'onchain', m.prev, 'LIQUIDITY_PENDING',
               'the hot wallet cannot cover it yet'
          FROM moved m;
    END IF;
    outcome := 'APPLIED';
END
$$;

-- ---- follower ----

-- Due transactions (SIGNED, BROADCAST or COMMITTED, next_check_at passed, lease free or expired),
-- each under a fresh lease token. SKIP LOCKED lets several daemons share them.
CREATE FUNCTION fl_ckb_tx_claim(p_limit integer, p_lease_ms integer)
RETURNS TABLE (id bigint, tx_hash text, raw_hex text, state text, block_number bigint,
               block_hash text, send_count integer, since_sent_ms bigint, lease_token bigint)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    WITH due AS (
        SELECT t.id FROM ckb_txs t
         WHERE t.state IN ('SIGNED', 'BROADCAST', 'COMMITTED') AND t.next_check_at <= now()
           AND (t.lease_until IS NULL OR t.lease_until < now())
         ORDER BY t.next_check_at
         LIMIT p_limit
         FOR UPDATE SKIP LOCKED)
    UPDATE ckb_txs t
       SET lease_token = nextval('ckb_lease_token_seq'),
           lease_until = now() + p_lease_ms * interval '1 millisecond'
      FROM due
     WHERE t.id = due.id
    RETURNING t.id, t.tx_hash, encode(t.raw, 'hex'), t.state, t.block_number, t.block_hash,
              t.send_count,
              (extract(epoch FROM now() - coalesce(t.last_sent_at, t.created_at)) * 1000)::bigint,
              t.lease_token;
END
$$;

-- The node took (or already had) the transaction: BROADCAST (from SIGNED or BROADCAST), one more
-- send counted; the lease ends and the next check is p_next_ms away.
CREATE FUNCTION fl_ckb_tx_sent(p_id bigint, p_token bigint, p_from text, p_next_ms integer,
                               OUT applied boolean, OUT state text)
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ckb_txs t
       SET state = 'BROADCAST', send_count = t.send_count + 1, last_sent_at = now(),
           last_error = NULL, next_check_at = now() + p_next_ms * interval '1 millisecond',
           lease_until = NULL
     WHERE t.id = p_id AND t.lease_token = p_token AND t.state = p_from
       AND p_from IN ('SIGNED', 'BROADCAST');
    applied := FOUND;
    SELECT t.state INTO state FROM ckb_txs t WHERE t.id = p_id;
END
$$;

-- Nothing changes but when to look again (and why): the lease ends.
CREATE FUNCTION fl_ckb_tx_wait(p_id bigint, p_token bigint, p_from text, p_next_ms integer,
                               p_error text, OUT applied boolean, OUT state text)
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ckb_txs t
       SET next_check_at = now() + p_next_ms * interval '1 millisecond', last_error = p_error,
           lease_until = NULL
     WHERE t.id = p_id AND t.lease_token = p_token AND t.state = p_from;
    applied := FOUND;
    SELECT t.state INTO state FROM ckb_txs t WHERE t.id = p_id;
END
$$;

-- In block p_block (hash p_hash) with p_conf confirmations, not yet deep enough: COMMITTED (from
-- SIGNED, BROADCAST or COMMITTED) and the withdrawals show the confirmations.
CREATE FUNCTION fl_ckb_tx_seen(p_id bigint, p_token bigint, p_from text, p_block bigint,
                               p_hash text, p_conf integer, p_next_ms integer,
                               OUT applied boolean, OUT state text)
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ckb_txs t
       SET state = 'COMMITTED', block_number = p_block, block_hash = p_hash,
           confirmations = p_conf, last_error = NULL,
           next_check_at = now() + p_next_ms * interval '1 millisecond', lease_until = NULL
     WHERE t.id = p_id AND t.lease_token = p_token AND t.state = p_from
       AND p_from IN ('SIGNED', 'BROADCAST', 'COMMITTED');
    applied := FOUND;
    IF applied THEN
        IF p_from <> 'COMMITTED' THEN
            INSERT INTO withdrawal_events (withdrawal_id, app_id, source, prev_state, next_state,
                                           detail)
            SELECT w.id, w.app_id, 'onchain', 'PROCESSING', 'PROCESSING',
                   'transaction ' || w.tx_hash || ' committed in block ' || p_block || ' (' ||
                   p_hash || ')'
              FROM withdrawals w WHERE w.ckb_tx_id = p_id AND w.state = 'PROCESSING';
        END IF;
        UPDATE withdrawals w SET confirmations = p_conf
         WHERE w.ckb_tx_id = p_id AND w.state = 'PROCESSING';
    END IF;
    SELECT t.state INTO state FROM ckb_txs t WHERE t.id = p_id;
END
$$;

-- Its block left the canonical chain (or the node no longer calls it committed): back to
-- BROADCAST, looked at (and re-sent if the node lost it) at once.
CREATE FUNCTION fl_ckb_tx_reorged(p_id bigint, p_token bigint, p_error text,
                                  OUT applied boolean, OUT state text)
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ckb_txs t
       SET state = 'BROADCAST', block_number = NULL, block_hash = NULL, confirmations = NULL,
           last_error = p_error, next_check_at = now(), lease_until = NULL
     WHERE t.id = p_id AND t.lease_token = p_token AND t.state = 'COMMITTED';
    applied := FOUND;
    IF applied THEN
        INSERT INTO withdrawal_events (withdrawal_id, app_id, source, prev_state, next_state,
                                       detail)
        SELECT w.id, w.app_id, 'onchain', 'PROCESSING', 'PROCESSING',
               'transaction ' || w.tx_hash || ' left the chain (reorg): ' || p_error
          FROM withdrawals w WHERE w.ckb_tx_id = p_id AND w.state = 'PROCESSING';
        UPDATE withdrawals w SET confirmations = NULL
         WHERE w.ckb_tx_id = p_id AND w.state = 'PROCESSING';
    END IF;
    SELECT t.state INTO state FROM ckb_txs t WHERE t.id = p_id;
END
$$;

-- Deep enough: in ONE transaction the transaction is CONFIRMED (through COMMITTED when it comes
-- from BROADCAST or SIGNED), its inputs SPENT, and each of its withdrawals COMPLETED with its
-- share of the fee (split evenly, the remainder to the lowest output index) and the same ledger
-- moves as fl_withdrawal_complete: payout WITHDRAWAL_INFLIGHT → PAID_OUT 'withdrawal:payout:<id>'
-- and fee FEES → PAID_OUT 'withdrawal:fee:<id>' (the hub bears the network fee).
CREATE FUNCTION fl_ckb_tx_confirm(p_id bigint, p_token bigint, p_from text, p_block bigint,
                                  p_hash text, p_conf integer,
                                  OUT applied boolean, OUT state text)
LANGUAGE plpgsql AS $$
DECLARE
    t      ckb_txs;
    o      record;
    v_n    integer;
    v_k    integer := 0;
    v_fee  bigint;
    v_flight bigint;
    v_out  bigint;
    v_fees bigint;
BEGIN
    SELECT * INTO t FROM ckb_txs x WHERE x.id = p_id FOR UPDATE;
    applied := false;
    state := t.state;
    IF NOT FOUND OR t.lease_token IS DISTINCT FROM p_token OR t.state <> p_from
       OR p_from NOT IN ('SIGNED', 'BROADCAST', 'COMMITTED') THEN
        RETURN;
    END IF;
    IF t.state <> 'COMMITTED' THEN
        UPDATE ckb_txs x SET state = 'COMMITTED' WHERE x.id = p_id;
    END IF;
    UPDATE ckb_txs x
       SET state = 'CONFIRMED', block_number = p_block, block_hash = p_hash,
           confirmations = p_conf, confirmed_at = clock_timestamp(), lease_until = NULL,
           last_error = NULL
     WHERE x.id = p_id;
    UPDATE wallet_cells c SET state = 'SPENT' WHERE c.spent_by = p_id AND c.state = 'SPENDING';

    SELECT count(*) INTO v_n FROM ckb_tx_outputs x
     WHERE x.tx_id = p_id AND x.withdrawal_id IS NOT NULL;
    FOR o IN SELECT x.output_index, w.* FROM ckb_tx_outputs x
               JOIN withdrawals w ON w.id = x.withdrawal_id
              WHERE x.tx_id = p_id ORDER BY x.output_index
                FOR UPDATE OF w LOOP
        IF o.state <> 'PROCESSING' OR o.ckb_tx_id IS DISTINCT FROM p_id THEN
            -- Our bookkeeping disagrees with itself: complete nothing rather than half.
            RAISE EXCEPTION 'withdrawal % (%, tx %) is not PROCESSING in transaction %', o.id,
                o.state, o.ckb_tx_id, p_id USING ERRCODE = 'check_violation';
        END IF;
        v_fee := t.fee / v_n + CASE WHEN v_k = 0 THEN t.fee % v_n ELSE 0 END;
        v_k := v_k + 1;
        v_flight := fl_account(o.app_id, 'WITHDRAWAL_INFLIGHT', '', o.asset);
        v_out := fl_account(o.app_id, 'PAID_OUT', '', o.asset);
        INSERT INTO transfers (app_id, debit_account, credit_account, asset, amount, kind, ref,
                               idempotency_key)
        VALUES (o.app_id, v_flight, v_out, o.asset, o.amount, 'WITHDRAWAL_PAYOUT', o.id::text,
                'withdrawal:payout:' || o.id::text);
        IF v_fee > 0 THEN
            v_fees := fl_account(o.app_id, 'FEES', '', o.asset);
            INSERT INTO transfers (app_id, debit_account, credit_account, asset, amount, kind,
                                   ref, idempotency_key)
            VALUES (o.app_id, v_fees, v_out, o.asset, v_fee, 'WITHDRAWAL_FEE', o.id::text,
                    'withdrawal:fee:' || o.id::text);
        END IF;
        UPDATE withdrawals u
           SET state = 'COMPLETED', fee = v_fee, confirmations = p_conf,
               completed_at = clock_timestamp(), lease_until = NULL, lease_token = NULL,
               last_error = NULL
         WHERE u.id = o.id;
        INSERT INTO withdrawal_events (withdrawal_id, app_id, source, prev_state, next_state,
                                       detail)
        VALUES (o.id, o.app_id, 'onchain', 'PROCESSING', 'COMPLETED',
                'transaction ' || t.tx_hash || ' output ' || o.output_index || ' in block ' ||
                p_block || ' (' || p_hash || '), ' || p_conf || ' confirmations, fee share ' ||
                v_fee);
    END LOOP;
    applied := true;
    state := 'CONFIRMED';
END
$$;

-- The node says the transaction cannot confirm (rejected, or unknown after it refused a send):
-- ABANDONED with the reason; its withdrawals PROCESSING → RETRY_PENDING (ckb_tx_id cleared, one
-- more retry counted, back-off p_base_ms·2^retry_count capped at p_max_ms), so the next batch
-- pays them in a new transaction; its inputs back to LIVE, or GONE when an input was dead (the
-- next sync revives the ones still live). Never a refund here (see the top of this file).
CREATE FUNCTION fl_ckb_tx_abandon(p_id bigint, p_token bigint, p_from text, p_reason text,
                                  p_dead_input boolean, p_base_ms integer, p_max_ms integer,
                                  OUT applied boolean, OUT state text)
LANGUAGE plpgsql AS $$
DECLARE
    v_hash text;
BEGIN
    UPDATE ckb_txs t
       SET state = 'ABANDONED', abandon_reason = p_reason, last_error = p_reason,
           abandoned_at = clock_timestamp(), lease_until = NULL
     WHERE t.id = p_id AND t.lease_token = p_token AND t.state = p_from
       AND p_from IN ('SIGNED', 'BROADCAST')
    RETURNING t.tx_hash INTO v_hash;
    applied := FOUND;
    IF applied THEN
        UPDATE wallet_cells c
           SET state = CASE WHEN p_dead_input THEN 'GONE' ELSE 'LIVE' END, spent_by = NULL
         WHERE c.spent_by = p_id AND c.state = 'SPENDING';
        INSERT INTO withdrawal_events (withdrawal_id, app_id, source, prev_state, next_state,
                                       detail)
        SELECT w.id, w.app_id, 'onchain', 'PROCESSING', 'RETRY_PENDING',
               'transaction ' || v_hash || ' abandoned: ' || p_reason || '; rebuilt later'
          FROM withdrawals w WHERE w.ckb_tx_id = p_id AND w.state = 'PROCESSING';
        UPDATE withdrawals w
           SET state = 'RETRY_PENDING', ckb_tx_id = NULL, tx_hash = NULL, confirmations = NULL,
               retry_count = w.retry_count + 1, last_error = p_reason,
               next_attempt_at = now() + least(greatest(p_max_ms, p_base_ms, 0)::float8,
                   greatest(p_base_ms, 0)::float8 * power(2::float8, least(w.retry_count, 40)))
                   * interval '1 millisecond'
         WHERE w.ckb_tx_id = p_id AND w.state = 'PROCESSING';
    END IF;
    SELECT t.state INTO state FROM ckb_txs t WHERE t.id = p_id;
END
$$;
