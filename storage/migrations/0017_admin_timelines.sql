-- The operator's view of money (API.md "Admin API", issue 10): tips.list and withdrawals.list
-- page newest first by (created_at, id), and tips.get / withdrawals.get answer "where is this
-- money" with a timeline assembled here, in one statement, from what each money step already
-- records: tip_events / withdrawal_events (creation, every node check and state change, the
-- runner's send attempts and their errors), transfers (ref = the tip or withdrawal id), the
-- on-chain transactions that carried a withdrawal, and webhook deliveries with their attempts.
--
-- ---- list indexes ----
-- A page is a keyset read: WHERE (created_at, id) < (cursor) ORDER BY created_at DESC, id DESC
-- LIMIT n, never OFFSET, so page 1000 costs what page 1 costs. The daemon never asks one index
-- for a mixed set of values in one ordered scan; it runs one ordered, limited scan per (app,
-- state) pair it is allowed to see (LATERAL over the arrays) and merges those few sorted runs:
--   no app filter, SUPER_ADMIN   one scan of (state, created_at, id) per state
--   apps (given or in scope)     one scan of (app_id, state, created_at, id) per app and state
--   userId                       per app: tips by receiver and by sender on the dashboard's
--                                (app_id, to_user_id / from_user_id, created_at) indexes,
--                                withdrawals on (app_id, user_id, created_at, id); the state
--                                is a filter there (one user's rows are few)
-- A listing with no state filter thus reads at most (#states x limit) index entries per app,
-- which spares the two (created_at, id) and (app_id, created_at, id) indexes every tip insert
-- would otherwise maintain as well. State is in these indexes, but an UNPAID -> SETTLED update
-- was never a HOT update (tips_due_idx and tips_settled_feed_idx change with it), so nothing is
-- lost on the write path.
CREATE INDEX tips_state_created_idx ON tips (state, created_at, id);
CREATE INDEX tips_app_state_created_idx ON tips (app_id, state, created_at, id);
CREATE INDEX withdrawals_state_created_idx ON withdrawals (state, created_at, id);
CREATE INDEX withdrawals_app_state_created_idx ON withdrawals (app_id, state, created_at, id);
CREATE INDEX withdrawals_app_user_created_idx ON withdrawals (app_id, user_id, created_at, id);
-- A timeline reads the ledger transfers of one tip or withdrawal by ref (the id as text, as
-- every money step writes it). One entry per transfer.
CREATE INDEX transfers_ref_idx ON transfers (ref);
-- And the admin calls that changed it (withdrawals.cancel, ...): audit rows whose subject it is.
CREATE INDEX audit_log_subject_idx ON audit_log (subject) WHERE subject IS NOT NULL;

-- ---- timelines ----
-- Each item is (at, kind, details). The order is the order of the steps: items written by one
-- step are listed together, the node's answer first, then the evidence, the state change, the
-- ledger transfers, the admin call that made it and the webhook deliveries it caused. Technically
-- every item has a group (the event row of its step: at, id) and a rank within it (0 answer, 10
-- evidence, 20 event, 30 transfer, 35 admin call, 40 webhook); items are sorted by (group at,
-- group id, rank, own at, own id).
-- A transfer, an audit row or a webhook delivery joins the group of the state change its step
-- made: the transfer kind, audited method or event type names the state (SETTLEMENT -> SETTLED, WITHDRAWAL_RESERVE ->
-- PENDING (creation), WITHDRAWAL_PAYOUT and _FEE -> COMPLETED, WITHDRAWAL_REFUND -> FAILED;
-- tip.settled -> SETTLED ...), and of the events into that state the one nearest in time is its
-- step (the final states have exactly one). Anything else stands at its own time. An item's own
-- "at" is kept as recorded: a transfer's created_at is its transaction's start, a few
-- microseconds before the event row of the same transaction.
--
-- Sampling: a tip that stays open for hours is checked hundreds of times, a withdrawal stuck
-- past its retry budget retries for as long as it takes. Of a tip's node checks (events that
-- left the state as it was) the first p_keep and the last p_keep are listed and one
-- {kind: "checks_omitted", count} item stands where the others were; of a withdrawal's events
-- between its creation and its final state likewise, with {kind: "events_omitted", count}.
-- State changes of tips, creations, final states, evidence, transfers and webhooks are never
-- omitted.

-- A time inside an item, rendered as the API shows times (UTC, microseconds, a Z): the rendering
-- of PG_TIMESTAMP_TEXT in storage/pg.h, which the daemon uses for each item's "at".
CREATE FUNCTION fl_admin_time(p timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(p AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- The state a transfer kind or webhook event type is written with (NULL: none known).
CREATE FUNCTION fl_admin_step_state(p_kind text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_kind
        WHEN 'SETTLEMENT' THEN 'SETTLED'
        WHEN 'WITHDRAWAL_RESERVE' THEN 'PENDING'
        WHEN 'WITHDRAWAL_PAYOUT' THEN 'COMPLETED'
        WHEN 'WITHDRAWAL_FEE' THEN 'COMPLETED'
        WHEN 'WITHDRAWAL_REFUND' THEN 'FAILED'
        WHEN 'tip.settled' THEN 'SETTLED'
        WHEN 'tip.failed' THEN 'FAILED'
        WHEN 'withdrawal.completed' THEN 'COMPLETED'
        WHEN 'withdrawal.failed' THEN 'FAILED'
        WHEN 'withdrawal.liquidity_pending' THEN 'LIQUIDITY_PENDING'
        WHEN 'withdrawals.cancel' THEN 'FAILED'
    END
$$;

-- A ledger account as the timeline shows it: {kind, userId} (userId null for the hub's own).
CREATE FUNCTION fl_admin_account_json(p_account bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('kind', a.kind, 'userId', nullif(a.user_id, ''))
      FROM accounts a WHERE a.id = p_account
$$;

-- The items every kind of money shares: its ledger transfers, the admin calls that changed it
-- (audit rows: rank 35, after the transfers of the same step), its webhook deliveries and their
-- attempts. p_events: the money's state-changing events (at, id, next_state) to group with.
CREATE FUNCTION fl_admin_money_items(p_app text, p_ref text, p_subject text,
                                     p_events jsonb)
RETURNS TABLE (g_at timestamptz, g_id bigint, rank integer, at timestamptz, own_id bigint,
               kind text, item jsonb)
LANGUAGE sql STABLE AS $$
    WITH ev AS (
        SELECT (e ->> 'at')::timestamptz AS at, (e ->> 'id')::bigint AS id,
               e ->> 'state' AS state
          FROM jsonb_array_elements(p_events) e
    ), xfer AS (
        SELECT x.* FROM transfers x WHERE x.ref = p_ref AND x.app_id = p_app
    ), dlv AS (
        SELECT d.* FROM webhook_deliveries d
         WHERE d.subject_kind = p_subject AND d.subject_id = p_ref AND d.app_id = p_app
    )
    SELECT coalesce(g.at, x.created_at), coalesce(g.id, 0), 30, x.created_at, x.id, 'transfer',
           jsonb_build_object('transferId', x.id, 'transferKind', x.kind, 'asset', x.asset,
                              'amount', x.amount, 'idempotencyKey', x.idempotency_key,
                              'debit', fl_admin_account_json(x.debit_account),
                              'credit', fl_admin_account_json(x.credit_account))
      FROM xfer x
      LEFT JOIN LATERAL (
          SELECT ev.at, ev.id FROM ev WHERE ev.state = fl_admin_step_state(x.kind)
           ORDER BY abs(extract(epoch FROM ev.at - x.created_at)), ev.id LIMIT 1) g ON true
    UNION ALL
    SELECT coalesce(g.at, a.at), coalesce(g.id, 0), 35, a.at, a.id, 'admin_action',
           jsonb_build_object('auditId', a.id, 'actor', a.actor, 'method', a.method,
                              'params', a.params)
      FROM audit_log a
      LEFT JOIN LATERAL (
          SELECT ev.at, ev.id FROM ev WHERE ev.state = fl_admin_step_state(a.method)
           ORDER BY abs(extract(epoch FROM ev.at - a.at)), ev.id LIMIT 1) g ON true
     WHERE a.subject = p_ref AND a.app_id = p_app
    UNION ALL
    SELECT coalesce(g.at, d.created_at), coalesce(g.id, 0), 40, d.created_at, d.id, 'webhook',
           jsonb_build_object('deliveryId', d.id, 'eventId', d.event_id,
                              'eventType', d.event_type, 'state', d.state,
                              'attempts', d.attempts, 'lastStatus', d.last_status,
                              'lastError', d.last_error,
                              'deliveredAt', fl_admin_time(d.delivered_at))
      FROM dlv d
      LEFT JOIN LATERAL (
          SELECT ev.at, ev.id FROM ev WHERE ev.state = fl_admin_step_state(d.event_type)
           ORDER BY abs(extract(epoch FROM ev.at - d.created_at)), ev.id LIMIT 1) g ON true
    UNION ALL
    SELECT a.at, 0, 40, a.at, a.id, 'webhook_attempt',
           jsonb_build_object('deliveryId', a.delivery_id, 'eventType', d.event_type,
                              'status', a.status, 'error', a.error,
                              'durationMs', a.duration_ms)
      FROM dlv d JOIN webhook_attempts a ON a.delivery_id = d.id AND a.app_id = p_app
$$;

-- A tip's timeline, oldest first (n = 1, 2, ...).
--   created        {state, source}
--   node_check     {source, answer, error, detail}: answer is the invoice status the node
--                  reported (null when the check learnt none: then error says why)
--   checks_omitted {count}
--   payment        {paymentHash, amount}: the settled invoice and the amount the node reported
--   state_change   {from, to, source, reason, detail}; a change a node check caused (Paid,
--                  Cancelled) comes right after that check's node_check
--   transfer, admin_action, webhook, webhook_attempt (fl_admin_money_items)
CREATE FUNCTION fl_admin_tip_timeline(p_tip uuid, p_keep integer)
RETURNS TABLE (n bigint, at timestamptz, kind text, item jsonb)
LANGUAGE sql STABLE AS $$
    WITH t AS (
        SELECT * FROM tips WHERE id = p_tip
    ), ev AS (
        SELECT e.*, coalesce(e.prev_state = e.next_state, false) AS is_check FROM tip_events e
         WHERE e.tip_id = p_tip
    ), chk AS (
        SELECT ev.*, row_number() OVER (ORDER BY ev.at, ev.id) AS rn,
               count(*) OVER () AS total
          FROM ev WHERE ev.is_check
    ), changes AS (
        SELECT ev.* FROM ev WHERE NOT ev.is_check
    ), items AS (
        SELECT c.at AS g_at, c.id AS g_id, 20 AS rank, c.at, c.id AS own_id,
               'created'::text AS kind,
               jsonb_build_object('state', c.next_state, 'source', c.source) AS item
          FROM changes c WHERE c.prev_state IS NULL
        UNION ALL
        SELECT c.at, c.id, 20, c.at, c.id, 'node_check',
               jsonb_build_object('source', c.source, 'answer', c.node_status,
                                  'error', CASE WHEN c.node_status IS NULL THEN c.detail END,
                                  'detail', CASE WHEN c.node_status IS NOT NULL
                                                  AND c.detail <> 'check' THEN c.detail END)
          FROM chk c WHERE c.rn <= p_keep OR c.rn > c.total - p_keep
        UNION ALL
        SELECT c.at, c.id, 20, c.at, c.id, 'checks_omitted',
               jsonb_build_object('count', c.total - 2 * p_keep)
          FROM chk c WHERE c.total > 2 * p_keep AND c.rn = p_keep + 1
        UNION ALL
        SELECT c.at, c.id, 0, c.at, c.id, 'node_check',
               jsonb_build_object('source', c.source, 'answer', c.node_status, 'error', NULL,
                                  'detail', NULL)
          FROM changes c WHERE c.prev_state IS NOT NULL AND c.node_status IS NOT NULL
        UNION ALL
        SELECT c.at, c.id, 20, c.at, c.id, 'state_change',
               jsonb_build_object('from', c.prev_state, 'to', c.next_state, 'source', c.source,
                                  'reason', CASE WHEN c.next_state = 'FAILED'
                                                 THEN (SELECT t.failure_reason FROM t) END,
                                  'detail', c.detail)
          FROM changes c WHERE c.prev_state IS NOT NULL
        UNION ALL
        SELECT coalesce(s.at, t.settled_at), coalesce(s.id, 0), 10, t.settled_at, 0, 'payment',
               jsonb_build_object('paymentHash', t.payment_hash, 'amount', t.settled_amount)
          FROM t
          LEFT JOIN LATERAL (SELECT c.at, c.id FROM changes c WHERE c.next_state = 'SETTLED'
                              ORDER BY c.id LIMIT 1) s ON true
         WHERE t.state = 'SETTLED'
        UNION ALL
        SELECT m.* FROM t, fl_admin_money_items(
            t.app_id, p_tip::text, 'tip',
            (SELECT coalesce(jsonb_agg(jsonb_build_object('at', c.at, 'id', c.id,
                                                          'state', c.next_state)), '[]')
               FROM changes c)) m
    )
    SELECT row_number() OVER o, i.at, i.kind, i.item FROM items i
    WINDOW o AS (ORDER BY i.g_at, i.g_id, i.rank, i.at, i.own_id)
    ORDER BY 1
$$;

-- A withdrawal's timeline, oldest first.
--   created        {state, source, detail}
--   send_attempt   {attempt, source}: the runner is about to call send_payment (recorded, with
--                  the lease proven, before the call); its answer is the next item: an error in
--                  a state_change to RETRY_PENDING or FAILED, or the payment and COMPLETED
--   step           {state, source, detail}: a step that kept the state (a resumed lease, a
--                  transaction committed in a block or back out of it by a reorg)
--   events_omitted {count}
--   state_change   {from, to, source, detail, error, reason}: error (instead of detail) is the
--                  trouble that sent it to RETRY_PENDING or FAILED (not an admin's cancel);
--                  reason the failure reason
--   admin_action   {auditId, actor, method, params}: an admin call that changed it (the audit
--                  row), with the state change it made
--   payment        {paymentHash, fee}: the Fiber payment that completed it
--   transaction    {txHash, outputIndex, amount, txState, txFee, fee, blockNumber, blockHash,
--                  confirmations, sendCount, lastError, abandonReason}: each on-chain
--                  transaction that carried it (the confirmed one with its completion)
--   transfer, admin_action, webhook, webhook_attempt (fl_admin_money_items)
CREATE FUNCTION fl_admin_withdrawal_timeline(p_id uuid, p_keep integer)
RETURNS TABLE (n bigint, at timestamptz, kind text, item jsonb)
LANGUAGE sql STABLE AS $$
    WITH w AS (
        SELECT * FROM withdrawals WHERE id = p_id
    ), ev AS (
        SELECT e.*,
               e.prev_state IS NULL
               OR (e.next_state IN ('COMPLETED', 'FAILED')
                   AND e.prev_state IS DISTINCT FROM e.next_state) AS kept,
               coalesce(e.prev_state = e.next_state AND e.detail = 'sending payment', false)
                   AS is_send
          FROM withdrawal_events e WHERE e.withdrawal_id = p_id
    ), numbered AS (
        SELECT ev.*,
               count(*) FILTER (WHERE ev.is_send) OVER (ORDER BY ev.at, ev.id) AS attempt,
               CASE WHEN NOT ev.kept
                    THEN row_number() OVER (PARTITION BY ev.kept ORDER BY ev.at, ev.id) END AS rn,
               count(*) FILTER (WHERE NOT ev.kept) OVER () AS middle
          FROM ev
    ), shown AS (
        SELECT * FROM numbered e
         WHERE e.kept OR e.rn <= p_keep OR e.rn > e.middle - p_keep
    ), changes AS (
        SELECT ev.* FROM ev WHERE ev.prev_state IS DISTINCT FROM ev.next_state
    ), items AS (
        SELECT e.at AS g_at, e.id AS g_id, 20 AS rank, e.at, e.id AS own_id,
               CASE WHEN e.prev_state IS NULL THEN 'created'
                    WHEN e.is_send THEN 'send_attempt'
                    WHEN e.prev_state = e.next_state THEN 'step'
                    ELSE 'state_change' END AS kind,
               CASE WHEN e.prev_state IS NULL
                    THEN jsonb_build_object('state', e.next_state, 'source', e.source,
                                            'detail', e.detail)
                    WHEN e.is_send
                    THEN jsonb_build_object('attempt', e.attempt, 'source', e.source)
                    WHEN e.prev_state = e.next_state
                    THEN jsonb_build_object('state', e.next_state, 'source', e.source,
                                            'detail', e.detail)
                    WHEN e.next_state IN ('RETRY_PENDING', 'FAILED') AND e.source <> 'admin'
                    THEN jsonb_build_object('from', e.prev_state, 'to', e.next_state,
                                            'source', e.source, 'detail', NULL,
                                            'error', e.detail,
                                            'reason', CASE WHEN e.next_state = 'FAILED'
                                                           THEN (SELECT w.failure_reason FROM w)
                                                      END)
                    ELSE jsonb_build_object('from', e.prev_state, 'to', e.next_state,
                                            'source', e.source, 'detail', e.detail,
                                            'error', NULL,
                                            'reason', CASE WHEN e.next_state = 'FAILED'
                                                           THEN (SELECT w.failure_reason FROM w)
                                                      END)
               END AS item
          FROM shown e
        UNION ALL
        SELECT e.at, e.id, 20, e.at, e.id, 'events_omitted',
               jsonb_build_object('count', e.middle - 2 * p_keep)
          FROM numbered e WHERE e.middle > 2 * p_keep AND e.rn = p_keep + 1
        UNION ALL
        SELECT coalesce(c.at, w.completed_at), coalesce(c.id, 0), 10, w.completed_at, 0,
               'payment', jsonb_build_object('paymentHash', w.payment_hash, 'fee', w.fee)
          FROM w
          LEFT JOIN LATERAL (SELECT c.at, c.id FROM changes c WHERE c.next_state = 'COMPLETED'
                              ORDER BY c.id LIMIT 1) c ON true
         WHERE w.state = 'COMPLETED' AND w.destination_kind = 'PAYMENT_REQUEST'
        UNION ALL
        SELECT coalesce(c.at, x.created_at), coalesce(c.id, 0), 10, x.created_at, x.id,
               'transaction',
               jsonb_build_object('txHash', x.tx_hash, 'outputIndex', o.output_index,
                                  'amount', o.capacity, 'txState', x.state, 'txFee', x.fee,
                                  'fee', CASE WHEN x.state = 'CONFIRMED' THEN w.fee END,
                                  'blockNumber', x.block_number, 'blockHash', x.block_hash,
                                  'confirmations', x.confirmations, 'sendCount', x.send_count,
                                  'lastError', x.last_error, 'abandonReason', x.abandon_reason)
          FROM w JOIN ckb_tx_outputs o ON o.withdrawal_id = w.id
          JOIN ckb_txs x ON x.id = o.tx_id
          LEFT JOIN LATERAL (SELECT c.at, c.id FROM changes c WHERE c.next_state = 'COMPLETED'
                              ORDER BY c.id LIMIT 1) c ON x.state = 'CONFIRMED'
        UNION ALL
        SELECT m.* FROM w, fl_admin_money_items(
            w.app_id, p_id::text, 'withdrawal',
            (SELECT coalesce(jsonb_agg(jsonb_build_object('at', c.at, 'id', c.id,
                                                          'state', c.next_state)), '[]')
               FROM changes c)) m
    )
    SELECT row_number() OVER o, i.at, i.kind, i.item FROM items i
    WINDOW o AS (ORDER BY i.g_at, i.g_id, i.rank, i.at, i.own_id)
    ORDER BY 1
$$;
