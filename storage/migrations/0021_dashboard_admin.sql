-- The admin block of dashboard.summary (docs/api.md, issue 10) lists the calling app's withdrawals
-- newest first by the time they last changed. A withdrawal has no updated_at column; its last
-- change is the latest of its withdrawal_events while it is in flight, and completed_at once it is
-- COMPLETED or FAILED (every step into a final state sets completed_at in the same transaction as
-- its last event, and nothing changes a final withdrawal afterwards). The in-flight ones are few
-- (the runners keep them moving) and are read whole; the final ones are the history, and without
-- this index the newest of them by completed_at would be a sort of all of the app's history on
-- every dashboard view. One ordered, limited scan per final state instead.
--
-- Write cost: one index entry per withdrawal, added by the UPDATE that makes it final (already a
-- non-HOT update: it changes state, which other indexes hold); nothing while it is in flight
-- (completed_at is NULL until then, outside the predicate).
CREATE INDEX withdrawals_app_state_completed_idx ON withdrawals (app_id, state, completed_at, id)
    WHERE completed_at IS NOT NULL;
