-- Settlement by the invoice poller: a guarded UNPAID → FAILED step, and node checks that can say
-- why they learnt nothing (node unreachable) without erasing the last status the node reported.

-- Ends an open tip that can no longer be paid (its invoice expired or was cancelled at the node).
-- Like fl_settle_tip it locks the tip row, so it cannot race a settlement: whichever commits first
-- wins and the other sees the tip no longer UNPAID (applied = false).
CREATE FUNCTION fl_fail_tip(p_tip uuid, p_reason text, p_source text, p_node_status text,
                            OUT applied boolean, OUT tip tips)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT * INTO tip FROM tips WHERE id = p_tip FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'tip % not found', p_tip USING ERRCODE = 'no_data_found';
    END IF;
    applied := false;
    IF tip.state <> 'UNPAID' THEN
        RETURN;
    END IF;
    UPDATE tips
       SET state = 'FAILED', failure_reason = p_reason,
           node_status = coalesce(p_node_status, node_status)
     WHERE id = p_tip AND state = 'UNPAID'
    RETURNING * INTO tip;
    INSERT INTO tip_events (tip_id, app_id, source, prev_state, next_state, node_status, detail)
    VALUES (p_tip, tip.app_id, p_source, 'UNPAID', 'FAILED', p_node_status,
            'failed: ' || p_reason);
    applied := true;
END
$$;

-- fl_tip_check gains a detail and keeps the last known node status when the check learnt none.
DROP FUNCTION fl_tip_check(uuid, text, text, integer);
CREATE FUNCTION fl_tip_check(p_tip uuid, p_source text, p_node_status text, p_delay_ms integer,
                             p_detail text)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_app text;
BEGIN
    UPDATE tips
       SET node_status = coalesce(p_node_status, node_status),
           next_check_at = now() + greatest(p_delay_ms, 0) * interval '1 millisecond',
           check_count = check_count + 1
     WHERE id = p_tip AND state = 'UNPAID'
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
