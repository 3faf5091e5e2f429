-- On-chain CKB withdrawals (issue 9), the request side: a withdrawal may now pay a CKB address
-- (destination_kind 'CKB_ADDRESS') instead of a Fiber invoice, and may wait in LIQUIDITY_PENDING
-- while the hot wallet cannot cover it. The on-chain runner's own tables come in a later
-- migration; the Fiber runner keeps to PAYMENT_REQUEST rows only.

ALTER TABLE withdrawals DROP CONSTRAINT withdrawals_destination_kind_check;
ALTER TABLE withdrawals ADD CONSTRAINT withdrawals_destination_kind_check
    CHECK (destination_kind IN ('PAYMENT_REQUEST', 'CKB_ADDRESS'));
ALTER TABLE withdrawals ALTER COLUMN payment_request DROP NOT NULL;
ALTER TABLE withdrawals ALTER COLUMN payment_hash DROP NOT NULL;
-- address: as the user gave it (trimmed); lock_script: the molecule Script it decodes to, which is
-- what the payout's output carries and what reconcile compares. network_fee: the hub's estimate
-- of this withdrawal's share of the transaction fee at request time (the real share is `fee`,
-- set at COMPLETED).
ALTER TABLE withdrawals ADD COLUMN address text;
ALTER TABLE withdrawals ADD COLUMN lock_script bytea;
ALTER TABLE withdrawals ADD COLUMN network_fee bigint CHECK (network_fee >= 0);
-- The on-chain runner keeps these current: the transaction now carrying the withdrawal (its
-- ckb_txs row, from a later migration, and its hash) and that transaction's confirmations as last
-- seen (NULL until committed in a block). withdrawal.status reads them.
ALTER TABLE withdrawals ADD COLUMN ckb_tx_id bigint;
ALTER TABLE withdrawals ADD COLUMN tx_hash text;
ALTER TABLE withdrawals ADD COLUMN confirmations integer CHECK (confirmations >= 0);
ALTER TABLE withdrawals ADD CONSTRAINT withdrawals_destination_fields_check CHECK (
    (destination_kind = 'PAYMENT_REQUEST' AND payment_request IS NOT NULL
        AND payment_hash IS NOT NULL AND address IS NULL AND lock_script IS NULL)
    OR (destination_kind = 'CKB_ADDRESS' AND address IS NOT NULL AND lock_script IS NOT NULL
        AND payment_request IS NULL AND payment_hash IS NULL AND asset = 'CKB'));

ALTER TABLE withdrawals DROP CONSTRAINT withdrawals_state_check;
ALTER TABLE withdrawals ADD CONSTRAINT withdrawals_state_check
    CHECK (state IN ('PENDING', 'PROCESSING', 'RETRY_PENDING', 'LIQUIDITY_PENDING', 'COMPLETED',
                     'FAILED'));

-- The state machine of 0006, plus the on-chain steps:
--   PENDING | RETRY_PENDING → LIQUIDITY_PENDING   the hot wallet cannot cover it (waits, never
--                                                  refunded for that alone)
--   LIQUIDITY_PENDING → PROCESSING                 put in a signed transaction once funded
--   PROCESSING → LIQUIDITY_PENDING                 its transaction was abandoned and the wallet
--                                                  cannot cover the rebuild
CREATE OR REPLACE FUNCTION fl_withdrawal_transition_allowed(p_from text, p_to text)
RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT (p_from, p_to) IN (('PENDING', 'PROCESSING'), ('RETRY_PENDING', 'PROCESSING'),
                              ('PROCESSING', 'PROCESSING'), ('PROCESSING', 'RETRY_PENDING'),
                              ('PROCESSING', 'COMPLETED'), ('PROCESSING', 'FAILED'),
                              ('PENDING', 'LIQUIDITY_PENDING'),
                              ('RETRY_PENDING', 'LIQUIDITY_PENDING'),
                              ('LIQUIDITY_PENDING', 'PROCESSING'),
                              ('PROCESSING', 'LIQUIDITY_PENDING'))
$$;

-- The Fiber runner's claim (0006) takes only invoice withdrawals: address withdrawals belong to
-- the on-chain runner, whose lease is its transaction's.
CREATE OR REPLACE FUNCTION fl_withdrawal_claim(p_limit integer, p_lease_ms integer)
RETURNS SETOF withdrawals
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    WITH due AS (
        SELECT id, state AS prev FROM withdrawals
         WHERE destination_kind = 'PAYMENT_REQUEST'
           AND ((state IN ('PENDING', 'RETRY_PENDING') AND next_attempt_at <= now())
                OR (state = 'PROCESSING' AND lease_until < now()))
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
