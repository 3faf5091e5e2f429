-- 0007 replaced the poller's tip steps with fenced ones (fl_tip_check_fenced, fl_fail_tip_fenced)
-- but left the unfenced 0002 versions callable. Nothing calls them now, and a write path that
-- needs no lease token is one a stale daemon could reach: drop them, as 0006 did for the
-- withdrawal runner's steps.
DROP FUNCTION fl_fail_tip(uuid, text, text, text);
DROP FUNCTION fl_tip_check(uuid, text, text, integer, text);
