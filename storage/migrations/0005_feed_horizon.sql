-- The settled feed (storage/feed.c) pages by (settled_at, id), and a client's cursor only moves
-- forward. settled_at is taken inside the settle transaction (fl_settle_tip), before it commits,
-- so with several pool connections or daemons a settle can commit after a later-stamped one: a
-- page read in between would show the later tip, the cursor would pass the earlier one, and the
-- earlier one would never be read. The feed therefore stops at a horizon below which nothing can
-- still appear:
--   * the horizon is the oldest start time of the client transactions in this database that hold
--     a transaction id (that write), or the current time when there are none;
--   * fl_settle_tip locks the tip row (which assigns the transaction id) before it reads the
--     clock for settled_at, so every settle still in progress has settled_at >= its start >= the
--     horizon, and every settle that starts later reads a later clock;
--   * the page is read by a second statement, with a snapshot taken after the horizon was, so
--     every settle below the horizon has committed and is visible to it.
-- A page may thus lag the newest settlements by the length of the longest writing transaction in
-- progress (milliseconds for the hub's own); it never skips one. pg_stat_activity only shows the
-- transaction ids of the caller's own role: the hub's settles all run under one role.
CREATE FUNCTION fl_settled_feed(p_app text, p_after_at timestamptz, p_after_id uuid,
                                p_limit integer)
RETURNS SETOF tips
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_horizon timestamptz;
BEGIN
    SELECT least(clock_timestamp(), min(a.xact_start)) INTO v_horizon
      FROM pg_stat_activity a
     WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
       AND a.backend_type = 'client backend' AND a.backend_xid IS NOT NULL;
    -- A new statement: a VOLATILE function's statements each take a fresh snapshot.
    RETURN QUERY
        SELECT * FROM tips t
         WHERE t.app_id = p_app AND t.state = 'SETTLED'
           AND (t.settled_at, t.id) > (coalesce(p_after_at, '-infinity'),
                                       coalesce(p_after_id, '00000000-0000-0000-0000-000000000000'))
           AND t.settled_at < v_horizon
         ORDER BY t.settled_at, t.id
         LIMIT p_limit;
END
$$;
