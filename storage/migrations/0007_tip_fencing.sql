-- Fenced leases for the invoice poller and checked tip state changes (ARCHITECTURE.md 7).
--
-- A poller claim hands each tip a fresh lease token (from a sequence, so a later claim always
-- holds a larger one). Every later write of that check (a reschedule, the note of an expiry, the
-- fail) names the token and the expected state, so a daemon whose lease ran out (frozen, slow
-- node, another daemon claimed the tip since) changes nothing. The settle step stays unfenced on
-- purpose: the node's "Paid" is final, and fl_settle_tip is idempotent (transfer key
-- settlement:tip:<id>, guarded UNPAID -> SETTLED), so whoever sees Paid first (a poller, or
-- tip.status which holds no lease) may credit the tip, exactly once.
--
-- tip.status no longer reschedules the poller: it only records what the node said (and at most
-- pulls an unclaimed tip's next check earlier when the node reports it Expired or Cancelled).

CREATE SEQUENCE tip_lease_seq;
ALTER TABLE tips ADD COLUMN lease_token bigint;

-- A poller check's record: node status (kept when NULL), the next check in p_delay_ms (which also
-- ends the lease) or, with p_delay_ms NULL, the schedule and lease kept as they are (the note of an
-- expiry before the cancel). False, and nothing written, unless the tip is UNPAID and p_token is
-- still its lease.
CREATE FUNCTION fl_tip_check_fenced(p_tip uuid, p_token bigint, p_source text,
                                    p_node_status text, p_delay_ms integer, p_detail text)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_app text;
BEGIN
    UPDATE tips
       SET node_status = coalesce(p_node_status, node_status),
           next_check_at = CASE WHEN p_delay_ms IS NULL THEN next_check_at
                                ELSE now() + greatest(p_delay_ms, 0) * interval '1 millisecond'
                           END,
           lease_token = CASE WHEN p_delay_ms IS NULL THEN lease_token END,
           check_count = check_count + 1
     WHERE id = p_tip AND lease_token = p_token AND state = 'UNPAID'
    RETURNING app_id INTO v_app;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO tip_events (tip_id, app_id, source, prev_state, next_state, node_status, detail)
    VALUES (p_tip, v_app, p_source, 'UNPAID', 'UNPAID', p_node_status,
            coalesce(p_detail, 'check'));
    RETURN true;
END
$$;

-- The poller's UNPAID -> FAILED step, fenced: applied = false (nothing written) when the tip is no
-- longer UNPAID or p_token is no longer its lease. The row lock orders it against a settlement.
CREATE FUNCTION fl_fail_tip_fenced(p_tip uuid, p_token bigint, p_reason text, p_source text,
                                   p_node_status text, OUT applied boolean, OUT tip tips)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT * INTO tip FROM tips WHERE id = p_tip FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'tip % not found', p_tip USING ERRCODE = 'no_data_found';
    END IF;
    applied := false;
    IF tip.state <> 'UNPAID' OR tip.lease_token IS DISTINCT FROM p_token THEN
        RETURN;
    END IF;
    UPDATE tips
       SET state = 'FAILED', failure_reason = p_reason,
           node_status = coalesce(p_node_status, node_status), lease_token = NULL
     WHERE id = p_tip AND lease_token = p_token AND state = 'UNPAID'
    RETURNING * INTO tip;
    INSERT INTO tip_events (tip_id, app_id, source, prev_state, next_state, node_status, detail)
    VALUES (p_tip, tip.app_id, p_source, 'UNPAID', 'FAILED', p_node_status,
            'failed: ' || p_reason);
    applied := true;
END
$$;

-- What tip.status learnt from the node about an open tip. Written only when the status changed
-- (a client asking often adds no rows); never moves next_check_at later and never touches a lease.
-- When the node reports the invoice Expired or Cancelled and no poller holds the tip, its next
-- check is pulled to now so the poller ends it promptly.
CREATE FUNCTION fl_tip_observe(p_tip uuid, p_source text, p_node_status text)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_app text;
BEGIN
    UPDATE tips
       SET node_status = p_node_status,
           next_check_at = CASE WHEN p_node_status IN ('Expired', 'Cancelled')
                                     AND lease_token IS NULL
                                THEN least(next_check_at, now())
                                ELSE next_check_at
                           END
     WHERE id = p_tip AND state = 'UNPAID' AND node_status IS DISTINCT FROM p_node_status
    RETURNING app_id INTO v_app;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO tip_events (tip_id, app_id, source, prev_state, next_state, node_status, detail)
    VALUES (p_tip, v_app, p_source, 'UNPAID', 'UNPAID', p_node_status, 'check');
    RETURN true;
END
$$;

-- The only state changes a tip may make: UNPAID -> SETTLED and UNPAID -> FAILED. SETTLED and
-- FAILED are final; a tip is born UNPAID. Anything else is a bug, refused by the database.
CREATE FUNCTION fl_tips_state_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.state <> 'UNPAID' THEN
            RAISE EXCEPTION 'tip %: a new tip must be UNPAID, not %', NEW.id, NEW.state
                USING ERRCODE = 'check_violation';
        END IF;
    ELSIF NEW.state IS DISTINCT FROM OLD.state
          AND NOT (OLD.state = 'UNPAID' AND NEW.state IN ('SETTLED', 'FAILED')) THEN
        RAISE EXCEPTION 'tip %: state change % -> % refused', OLD.id, OLD.state, NEW.state
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER tips_state_guard BEFORE INSERT OR UPDATE OF state ON tips
    FOR EACH ROW EXECUTE FUNCTION fl_tips_state_guard();
