-- Operators' controls (issue 10, API.md "Admin API", "Alerts"): durable alerts, and the switches
-- that pause and resume the hub's jobs, shared by every daemon on this database.
--
-- Pausing a job. job_controls holds one row per job. Every claim of a job (the invoice poller's,
-- the Fiber payout runner's, the on-chain builder's take and the on-chain follower's claims; the
-- webhook delivery job and the alert evaluator of issue 11 use the same gate) first calls
-- fl_job_may_claim(job) inside its own statement: while the job is paused the claim takes
-- nothing, and otherwise it claims as before. A paused job therefore finishes what it already
-- holds (every fenced step of a claimed row runs as before: pausing never touches a lease) and
-- claims nothing new. The gate reads the row FOR SHARE, and jobs.pause updates it: a pause waits
-- for the claims already past the gate to commit, and every claim that starts later waits for the
-- pause and then sees it. So once jobs.pause has answered, no daemon claims anything for that job
-- until jobs.resume; what it holds still finishes.
--
-- last_run_at: when a daemon last ran the job's claim while it was not paused. Recorded by the
-- gate, at most once per 5 seconds for the whole hub, and never waiting for the row (SKIP LOCKED:
-- when another claim or a pause holds it, this run is simply not recorded).
--
-- Alerts. One row per raise; at most one open row per (kind, subject), guaranteed by a unique
-- partial index, so raising again while open changes the open row's evidence and adds nothing.
-- Clearing closes it (state 'cleared', the evidence of the clear kept); a later raise opens a new
-- row. fl_alert_raise and fl_alert_clear are the evaluator's (issue 11) only writers.

-- ---- jobs ----

CREATE TABLE job_controls (
    job         text PRIMARY KEY CHECK (job IN ('invoice_poller', 'fiber_payouts',
                                                'onchain_payouts', 'webhooks', 'alerts')),
    paused      boolean NOT NULL DEFAULT false,
    reason      text,               -- the operator's reason for the pause (NULL when running)
    changed_at  timestamptz,        -- last jobs.pause / jobs.resume
    changed_by  text,               -- the admin token's name that made it
    last_run_at timestamptz
);
INSERT INTO job_controls (job)
VALUES ('invoice_poller'), ('fiber_payouts'), ('onchain_payouts'), ('webhooks'), ('alerts');

-- Whether p_job is paused now (a plain read; an unknown job is not paused).
CREATE FUNCTION fl_job_paused(p_job text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT c.paused FROM job_controls c WHERE c.job = p_job), false)
$$;

-- The gate at the top of every claim of p_job: false while the job is paused (the claim then
-- takes nothing). Holds the job's row FOR SHARE until the claim's transaction ends (see the top
-- of this file), and records the run in last_run_at at most every 5 seconds without waiting.
CREATE FUNCTION fl_job_may_claim(p_job text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_paused boolean;
BEGIN
    SELECT c.paused INTO v_paused FROM job_controls c WHERE c.job = p_job FOR SHARE;
    IF coalesce(v_paused, false) THEN
        RETURN false;
    END IF;
    UPDATE job_controls c SET last_run_at = now()
     WHERE c.job = (SELECT x.job FROM job_controls x
                     WHERE x.job = p_job
                       AND (x.last_run_at IS NULL OR x.last_run_at < now() - interval '5 seconds')
                       FOR NO KEY UPDATE SKIP LOCKED);
    RETURN true;
END
$$;

-- jobs.pause (p_paused true, with p_reason) and jobs.resume (false): sets the switch and writes
-- the audit row in the same transaction. Every call is audited, also one that finds the job
-- already in that state (before and after then show no change to paused). Answers the row after
-- the change; no row when p_job is not a job.
CREATE FUNCTION fl_job_set(p_job text, p_paused boolean, p_reason text, p_actor text,
                           p_params jsonb)
RETURNS SETOF job_controls
LANGUAGE plpgsql AS $$
DECLARE
    b job_controls;
    a job_controls;
BEGIN
    SELECT * INTO b FROM job_controls c WHERE c.job = p_job FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    UPDATE job_controls c
       SET paused = p_paused, reason = CASE WHEN p_paused THEN p_reason END,
           changed_at = clock_timestamp(), changed_by = p_actor
     WHERE c.job = p_job
    RETURNING * INTO a;
    PERFORM fl_audit(p_actor, CASE WHEN p_paused THEN 'jobs.pause' ELSE 'jobs.resume' END, NULL,
                     p_job, p_params,
                     jsonb_build_object('paused', b.paused, 'reason', b.reason),
                     jsonb_build_object('paused', a.paused, 'reason', a.reason));
    RETURN NEXT a;
END
$$;

-- ---- the claims, gated ----
-- Each claim keeps its body (the previous migrations' function, renamed *_ungated) and gains the
-- gate in front, so the claim statement the daemon sends is unchanged and costs no extra round
-- trip. A later migration that changes a claim replaces the *_ungated function and leaves the
-- gate alone.

-- invoice_poller: the claim that storage/tips.c sent as inline SQL, now a function.
CREATE FUNCTION fl_tip_claim(p_limit integer, p_lease_ms integer)
RETURNS TABLE (id uuid, lease_token bigint, payment_hash text, node_status text, amount bigint,
               expires_ms bigint, age_ms bigint)
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT fl_job_may_claim('invoice_poller') THEN
        RETURN;
    END IF;
    RETURN QUERY
    UPDATE tips t SET next_check_at = now() + p_lease_ms * interval '1 millisecond',
                      lease_token = nextval('tip_lease_seq')
      FROM (SELECT x.id FROM tips x WHERE x.state = 'UNPAID' AND x.next_check_at <= now()
             ORDER BY x.next_check_at LIMIT p_limit FOR UPDATE SKIP LOCKED) due
     WHERE t.id = due.id AND t.state = 'UNPAID'
    RETURNING t.id, t.lease_token, t.payment_hash, t.node_status, t.amount,
              (extract(epoch FROM t.expires_at) * 1000)::bigint,
              (extract(epoch FROM now() - t.created_at) * 1000)::bigint;
END
$$;

-- fiber_payouts (0010's claim).
ALTER FUNCTION fl_withdrawal_claim(integer, integer) RENAME TO fl_withdrawal_claim_ungated;
CREATE FUNCTION fl_withdrawal_claim(p_limit integer, p_lease_ms integer)
RETURNS SETOF withdrawals
LANGUAGE plpgsql AS $$
BEGIN
    IF fl_job_may_claim('fiber_payouts') THEN
        RETURN QUERY SELECT * FROM fl_withdrawal_claim_ungated(p_limit, p_lease_ms);
    END IF;
END
$$;

-- onchain_payouts, the builder (0013's take): no builder lease is taken while paused.
ALTER FUNCTION fl_ckb_batch_take(integer, integer, integer) RENAME TO fl_ckb_batch_take_ungated;
CREATE FUNCTION fl_ckb_batch_take(p_limit integer, p_cells integer, p_lease_ms integer)
RETURNS TABLE (kind text, lease_token bigint, ref text, idx integer, amount bigint,
               lock_hex text, state text, pending_change bigint, groups text)
LANGUAGE plpgsql AS $$
BEGIN
    IF fl_job_may_claim('onchain_payouts') THEN
        RETURN QUERY SELECT * FROM fl_ckb_batch_take_ungated(p_limit, p_cells, p_lease_ms);
    END IF;
END
$$;

-- onchain_payouts, the follower (0012's claim of due transactions).
ALTER FUNCTION fl_ckb_tx_claim(integer, integer) RENAME TO fl_ckb_tx_claim_ungated;
CREATE FUNCTION fl_ckb_tx_claim(p_limit integer, p_lease_ms integer)
RETURNS TABLE (id bigint, tx_hash text, raw_hex text, state text, block_number bigint,
               block_hash text, send_count integer, since_sent_ms bigint, lease_token bigint)
LANGUAGE plpgsql AS $$
BEGIN
    IF fl_job_may_claim('onchain_payouts') THEN
        RETURN QUERY SELECT * FROM fl_ckb_tx_claim_ungated(p_limit, p_lease_ms);
    END IF;
END
$$;

-- onchain_payouts, the follower's look at abandoned predecessors (0013).
ALTER FUNCTION fl_ckb_predecessor_claim(integer, integer, integer)
    RENAME TO fl_ckb_predecessor_claim_ungated;
CREATE FUNCTION fl_ckb_predecessor_claim(p_limit integer, p_lease_ms integer,
                                         p_recheck_ms integer)
RETURNS TABLE (id bigint, tx_hash text, lease_token bigint)
LANGUAGE plpgsql AS $$
BEGIN
    IF fl_job_may_claim('onchain_payouts') THEN
        RETURN QUERY SELECT * FROM fl_ckb_predecessor_claim_ungated(p_limit, p_lease_ms,
                                                                    p_recheck_ms);
    END IF;
END
$$;

-- ---- alerts ----

CREATE TABLE alerts (
    id             bigserial PRIMARY KEY,
    kind           text NOT NULL CHECK (kind IN ('node_unreachable', 'db_unavailable',
                       'poller_lagging', 'paid_not_credited', 'payout_stuck', 'payout_failed',
                       'hot_wallet_low', 'fiber_liquidity_low', 'holdings_below_liabilities')),
    subject        text NOT NULL CHECK (char_length(subject) BETWEEN 1 AND 256),
    app_id         text,                  -- the app it is about; NULL: hub-wide
    state          text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'cleared')),
    raised_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    cleared_at     timestamptz,
    evidence       jsonb NOT NULL DEFAULT '{}',  -- the latest evidence seen while open
    clear_evidence jsonb,                        -- what showed it was over
    acked_at       timestamptz,
    acked_by       text,
    CHECK ((state = 'cleared') = (cleared_at IS NOT NULL)),
    CHECK ((acked_at IS NULL) = (acked_by IS NULL))
);
CREATE UNIQUE INDEX alerts_one_open_idx ON alerts (kind, subject) WHERE state = 'open';
CREATE INDEX alerts_state_idx ON alerts (state, id);
CREATE INDEX alerts_app_idx ON alerts (app_id, id);

-- Raises (kind, subject): opens a row, or, while one is open, replaces its evidence. raised is
-- true only when this call opened the row (the evaluator sends alert.raised then). Safe against
-- concurrent raises and clears of the same pair (the unique index decides; a clear that wins
-- between the two statements makes the loop open a new row).
CREATE FUNCTION fl_alert_raise(p_kind text, p_subject text, p_app_id text, p_evidence jsonb,
                               OUT id bigint, OUT raised boolean)
LANGUAGE plpgsql AS $$
BEGIN
    LOOP
        INSERT INTO alerts AS a (kind, subject, app_id, evidence)
        VALUES (p_kind, p_subject, p_app_id, coalesce(p_evidence, '{}'))
        ON CONFLICT (kind, subject) WHERE state = 'open' DO NOTHING
        RETURNING a.id INTO id;
        IF FOUND THEN
            raised := true;
            RETURN;
        END IF;
        UPDATE alerts a SET evidence = coalesce(p_evidence, '{}')
         WHERE a.kind = p_kind AND a.subject = p_subject AND a.state = 'open'
        RETURNING a.id INTO id;
        IF FOUND THEN
            raised := false;
            RETURN;
        END IF;
    END LOOP;
END
$$;

-- Clears the open (kind, subject), keeping p_evidence; id is NULL when none was open.
CREATE FUNCTION fl_alert_clear(p_kind text, p_subject text, p_evidence jsonb, OUT id bigint)
LANGUAGE sql AS $$
    UPDATE alerts a
       SET state = 'cleared', cleared_at = clock_timestamp(),
           clear_evidence = coalesce(p_evidence, '{}')
     WHERE a.kind = p_kind AND a.subject = p_subject AND a.state = 'open'
    RETURNING a.id
$$;

-- alerts.ack: the alert p_id within p_scope (NULL: every alert; otherwise only alerts of those
-- apps, never a hub-wide one) is acknowledged by p_actor, with its audit row. The first ack is
-- kept (acked_at, acked_by); acking again changes nothing but is audited like any call. No row:
-- no such alert in the scope.
CREATE FUNCTION fl_alert_ack(p_id bigint, p_scope text[], p_actor text, p_params jsonb)
RETURNS SETOF alerts
LANGUAGE plpgsql AS $$
DECLARE
    b alerts;
    a alerts;
BEGIN
    SELECT * INTO b FROM alerts x
     WHERE x.id = p_id AND (p_scope IS NULL OR x.app_id = ANY (p_scope))
       FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    UPDATE alerts x
       SET acked_at = coalesce(x.acked_at, clock_timestamp()),
           acked_by = coalesce(x.acked_by, p_actor)
     WHERE x.id = p_id
    RETURNING * INTO a;
    PERFORM fl_audit(p_actor, 'alerts.ack', b.app_id, p_id::text, p_params,
                     jsonb_build_object('ackedAt', b.acked_at, 'ackedBy', b.acked_by),
                     jsonb_build_object('ackedAt', a.acked_at, 'ackedBy', a.acked_by));
    RETURN NEXT a;
END
$$;

-- ---- webhooks (tables in 0014) ----

-- webhooks.set: the app's receiver is created (with p_secret_enc, sealed by the daemon) or
-- changed (the stored secret kept; p_secret_enc ignored); p_enabled NULL keeps the current value
-- (true for a new receiver). created tells which, so the daemon shows the secret only when its
-- sealed copy is the one stored. The audit row never holds the secret. No row: no such app.
CREATE FUNCTION fl_webhook_set(p_app_id text, p_url text, p_events text[], p_enabled boolean,
                               p_secret_enc bytea, p_actor text, p_params jsonb)
RETURNS TABLE (created boolean, url text, events text[], enabled boolean)
LANGUAGE plpgsql AS $$
DECLARE
    b webhooks;
    a webhooks;
BEGIN
    PERFORM 1 FROM apps x WHERE x.app_id = p_app_id;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    INSERT INTO webhooks AS w (app_id, url, events, enabled, secret_enc)
    VALUES (p_app_id, p_url, p_events, coalesce(p_enabled, true), p_secret_enc)
    ON CONFLICT (app_id) DO NOTHING
    RETURNING * INTO a;
    created := FOUND;
    IF NOT created THEN
        SELECT * INTO b FROM webhooks w WHERE w.app_id = p_app_id FOR UPDATE;
        UPDATE webhooks w
           SET url = p_url, events = p_events, enabled = coalesce(p_enabled, w.enabled),
               updated_at = clock_timestamp()
         WHERE w.app_id = p_app_id
        RETURNING * INTO a;
    END IF;
    PERFORM fl_audit(p_actor, 'webhooks.set', p_app_id, p_app_id, p_params,
                     CASE WHEN NOT created THEN
                         jsonb_build_object('url', b.url, 'events', b.events,
                                            'enabled', b.enabled) END,
                     jsonb_build_object('url', a.url, 'events', a.events, 'enabled', a.enabled,
                                        'secretIssued', created));
    url := a.url;
    events := a.events;
    enabled := a.enabled;
    RETURN NEXT;
END
$$;

-- webhooks.redeliver: the delivery p_id within p_scope (NULL: any app) goes back to PENDING, due
-- now, with its audit row. Its attempt log (webhook_attempts) and attempts count are kept;
-- delivered_at is cleared (the log still shows the earlier delivery). No row: no such delivery in
-- the scope.
CREATE FUNCTION fl_webhook_redeliver(p_id bigint, p_scope text[], p_actor text, p_params jsonb)
RETURNS SETOF webhook_deliveries
LANGUAGE plpgsql AS $$
DECLARE
    b webhook_deliveries;
    a webhook_deliveries;
BEGIN
    SELECT * INTO b FROM webhook_deliveries d
     WHERE d.id = p_id AND (p_scope IS NULL OR d.app_id = ANY (p_scope))
       FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    UPDATE webhook_deliveries d
       SET state = 'PENDING', next_attempt_at = clock_timestamp(), delivered_at = NULL
     WHERE d.id = p_id
    RETURNING * INTO a;
    PERFORM fl_audit(p_actor, 'webhooks.redeliver', b.app_id, p_id::text, p_params,
                     jsonb_build_object('state', b.state, 'nextAttemptAt', b.next_attempt_at,
                                        'deliveredAt', b.delivered_at),
                     jsonb_build_object('state', a.state, 'nextAttemptAt', a.next_attempt_at,
                                        'deliveredAt', a.delivered_at));
    RETURN NEXT a;
END
$$;
