"""dashboard.summary's admin block (docs/api.md): absent unless includeAdmin; with it, the exact
shape the forum plugin reads (filtersApplied, apps, withdrawals, settlements, pipelineBoard), every
list scoped to the calling app (its own app only, never another forum's tips, withdrawals or app
id), the filters, the limits (40 rows, the app list holding just the caller), the order (tips by
creation, withdrawals by their last change), the fields taken from the tip's events (last check,
its error) and the amounts in whole units of each asset.

The invoice poller and the Fiber runner are paused for the module (jobs.pause), so every row stays
as the test wrote it: tips are made through the API (and paid, or failed and checked by the
database's own fenced steps), withdrawals are written directly with chosen times."""

import re
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

import fl
from conftest import base_settings

ISO_US = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
DECIMAL = re.compile(r"^(0|[1-9]\d*)(\.\d*[1-9])?$")
CKB = 10**8
USDI_SCRIPT = ('{"code_hash":"0x' + "ab" * 32 + '","hash_type":"type","args":"0x' + "cd" * 20
               + '"}')
ADMIN_KEYS = {"filtersApplied", "apps", "withdrawals", "settlements", "pipelineBoard"}
WITHDRAWAL_KEYS = {"id", "userId", "asset", "amount", "state", "retryCount", "createdAt",
                   "updatedAt", "txHash", "nextRetryAt", "lastError"}
SETTLEMENT_KEYS = {"id", "invoice", "fromUserId", "toUserId", "state", "retryCount", "createdAt",
                   "settledAt", "nextRetryAt", "lastCheckedAt", "lastError", "failureReason"}
ROW_KEYS = {"invoice", "state", "amount", "asset", "fromUserId", "toUserId", "createdAt",
            "timelineHref"}
TIP_AMOUNTS = ["1", "0.5", "12345.6789", "0.00000001", "7.25"]
BULK_TIPS, PAID, FAILED = 45, 5, 3
BASE = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


def at(minutes):
    return BASE + timedelta(minutes=minutes)


def iso(dt):
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture(scope="module")
def daemon(db, sim, logdir):
    """This module's daemon knows USDI (a tip in it shows its own decimals)."""
    settings = base_settings(db, sim)
    settings["FIBERLINK_USDI_UDT_TYPE_SCRIPT_JSON"] = USDI_SCRIPT
    d = fl.Daemon(logdir, settings)
    yield d
    d.stop_checked()


def summary(c, **params):
    return c.result("dashboard.summary", {"userId": "author", **params})


def block(c, **params):
    res = summary(c, includeAdmin=True, **params)
    assert set(res["admin"]) == ADMIN_KEYS, res["admin"]
    return res["admin"]


def new_withdrawal(c, app, user, amount, created, path=(), asset="CKB", tx_hash=None,
                   error=None):
    """A withdrawal written directly, born PENDING at created, then taken through path
    [(state, minutes)] with an event per step (COMPLETED/FAILED set completed_at at that time,
    RETRY_PENDING counts a retry with error and a next attempt). Never due for any runner."""
    wid = str(uuid.uuid4())
    if asset == "CKB":
        dest = ("'CKB_ADDRESS', NULL, NULL, 'ckt1qdirect', '\\x00'")
    else:
        dest = (f"'PAYMENT_REQUEST', 'fibt-direct-{wid}', '0x{uuid.uuid4().hex * 2}', NULL, NULL")
    c.execute("INSERT INTO withdrawals (id, app_id, user_id, asset, amount, destination_kind, "
              "payment_request, payment_hash, address, lock_script, request_hash, "
              f"max_fee_amount, next_attempt_at, created_at) VALUES (%s, %s, %s, %s, %s, {dest}, "
              "'direct', 0, now() + interval '1 year', %s)",
              (wid, app, user, asset, amount, created))
    ev = ("INSERT INTO withdrawal_events (withdrawal_id, app_id, source, prev_state, next_state, "
          "detail, at) VALUES (%s, %s, 'test', %s, %s, 'step', %s)")
    c.execute(ev, (wid, app, None, "PENDING", created))
    prev = "PENDING"
    for state, t in path:
        if state == "COMPLETED":
            c.execute("UPDATE withdrawals SET state = 'COMPLETED', fee = 0, completed_at = %s "
                      "WHERE id = %s", (t, wid))
        elif state == "FAILED":
            c.execute("UPDATE withdrawals SET state = 'FAILED', failure_reason = "
                      "'INVALID_DESTINATION', last_error = %s, completed_at = %s WHERE id = %s",
                      (error, t, wid))
        elif state == "RETRY_PENDING":
            c.execute("UPDATE withdrawals SET state = 'RETRY_PENDING', retry_count = "
                      "retry_count + 1, last_error = %s WHERE id = %s", (error, wid))
        else:
            c.execute("UPDATE withdrawals SET state = %s WHERE id = %s", (state, wid))
        c.execute(ev, (wid, app, prev, state, t))
        prev = state
    if tx_hash is not None:
        c.execute("UPDATE withdrawals SET tx_hash = %s WHERE id = %s", (tx_hash, wid))
    return wid


def bulk_withdrawals(c, app, n, first, final):
    """n withdrawals of 1 CKB created at minutes first, first+1, ...: COMPLETED at that time too
    when final, else left PENDING."""
    rows = c.execute(
        "INSERT INTO withdrawals (id, app_id, user_id, asset, amount, destination_kind, address, "
        "lock_script, request_hash, max_fee_amount, next_attempt_at, created_at) "
        "SELECT gen_random_uuid(), %s, 'bulk', 'CKB', %s, 'CKB_ADDRESS', 'ckt1qdirect', '\\x00', "
        "'direct', 0, now() + interval '1 year', %s + i * interval '1 minute' "
        "FROM generate_series(0, %s - 1) i RETURNING id",
        (app, CKB, at(first), n)).fetchall()
    ids = [str(r[0]) for r in rows]
    if final:
        c.execute("UPDATE withdrawals SET state = 'PROCESSING' WHERE id = ANY(%s::uuid[])", (ids,))
        c.execute("UPDATE withdrawals SET state = 'COMPLETED', fee = 0, completed_at = created_at "
                  "WHERE id = ANY(%s::uuid[])", (ids,))
    return ids


def tip_check(c, tid, status, detail=None):
    """The poller's check of a tip (fl_tip_check_fenced under a fresh lease): the node's answer
    status, or None and detail the error; next check in 10 minutes. Returns the event's time."""
    return tip_step(c, tid, "SELECT fl_tip_check_fenced(%s::uuid, %s::bigint, 'poller', "
                    "%s::text, 600000, %s::text)", (status, detail))


def tip_fail(c, tid):
    """The poller's UNPAID -> FAILED (EXPIRED) step. Returns the event's time."""
    return tip_step(c, tid, "SELECT fl_fail_tip_fenced(%s::uuid, %s::bigint, 'EXPIRED', "
                    "'poller', 'Expired')", ())


def tip_step(c, tid, sql, args):
    c.execute("UPDATE tips SET lease_token = nextval('tip_lease_seq') WHERE id = %s", (tid,))
    (token,) = c.execute("SELECT lease_token FROM tips WHERE id = %s", (tid,)).fetchone()
    c.execute(sql, (tid, token, *args))
    (when,) = c.execute("SELECT at FROM tip_events WHERE tip_id = %s ORDER BY id DESC LIMIT 1",
                        (tid,)).fetchone()
    return iso(when)


@pytest.fixture(scope="module")
def world(db, daemon, sim, admin):
    for job in ("invoice_poller", "fiber_payouts"):
        admin.call_ok("jobs.pause", {"job": job, "reason": "dashboard admin test"})
    r = fl.run_cli(["app", "create", "--app-id", "forum2"], env={"FIBERLINK_DATABASE_URL": db.url})
    assert r.returncode == 0, r.stdout + r.stderr
    secret2 = dict(l.split("=", 1) for l in r.stdout.splitlines() if "=" in l)["secret"]
    w = {}
    with fl.Client(daemon.base, db.app_id, db.secret) as c1, \
            fl.Client(daemon.base, "forum2", secret2) as c2:
        bulk = fl.create_tips(c1, BULK_TIPS, lambda i: fl.tip_params(
            postId=f"bulk-{i}", fromUserId=f"fan{i % 3}", toUserId="author",
            amount=TIP_AMOUNTS[i % len(TIP_AMOUNTS)], message=None))
        for t in bulk[:PAID]:
            sim.pay(t["invoice"])
            assert c1.result("tip.status", {"tipId": t["tipId"]})["state"] == "SETTLED"
        w["paid"] = [t["tipId"] for t in bulk[:PAID]]
        w["bulk"] = [t["tipId"] for t in bulk]
        # The newest tips: one with a failed last check, one whose error a later check cleared,
        # the failed ones, a USDI tip.
        erring = c1.result("tip.create", fl.tip_params(postId="erring", toUserId="author",
                                                       amount="3"))["tipId"]
        cleared = c1.result("tip.create", fl.tip_params(postId="cleared", toUserId="author",
                                                        amount="4"))["tipId"]
        failing = [c1.result("tip.create", fl.tip_params(postId=f"failing-{i}",
                                                         toUserId="author",
                                                         amount="2"))["tipId"]
                   for i in range(FAILED)]
        usdi = c1.result("tip.create", fl.tip_params(postId="usdi", toUserId="author",
                                                     asset="USDI", amount="0.000001"))
        w["usdi"] = usdi["tipId"]
        w["tips2"] = [c2.result("tip.create", fl.tip_params(postId=f"other-{i}",
                                                            toUserId="author",
                                                            amount="9"))["tipId"]
                      for i in range(2)]
    with psycopg.connect(db.url, autocommit=True) as c:
        tip_check(c, erring, "Open")
        w["erring_checked"] = tip_check(c, erring, None, "node unreachable: connection refused")
        tip_check(c, cleared, None, "node timed out")
        w["cleared_checked"] = tip_check(c, cleared, "Open")
        w["failed_at"] = [tip_fail(c, t) for t in failing]
        w.update(erring=erring, cleared=cleared, failing=failing)
        # forum1's withdrawals, in the order of their last change (minutes after BASE):
        #   failed 60, retrying 50, old-completed 40 (created long before the others),
        #   processing 20, completed 10, liquidity 7, pending (USDI) 0; then 45 bulk ones
        #   completed before all of them.
        nw = {}
        nw["failed"] = new_withdrawal(c, "forum1", "u-failed", 3 * CKB, at(5),
                                      [("PROCESSING", at(6)), ("FAILED", at(60))],
                                      error="node refused: bad invoice")
        nw["retrying"] = new_withdrawal(c, "forum1", "u-retry", 150000000, at(1),
                                        [("PROCESSING", at(2)), ("RETRY_PENDING", at(50))],
                                        error="send_payment: no route")
        nw["old_completed"] = new_withdrawal(c, "forum1", "u-old", 1234567890123, at(-100),
                                             [("PROCESSING", at(-99)), ("COMPLETED", at(40))])
        nw["processing"] = new_withdrawal(c, "forum1", "u-proc", 1, at(8),
                                          [("PROCESSING", at(20))], tx_hash="0x" + "ab" * 32)
        nw["completed"] = new_withdrawal(c, "forum1", "u-done", 100 * CKB, at(3),
                                         [("PROCESSING", at(4)), ("COMPLETED", at(10))])
        nw["liquidity"] = new_withdrawal(c, "forum1", "u-liq", 70 * CKB, at(6),
                                         [("LIQUIDITY_PENDING", at(7))])
        nw["pending"] = new_withdrawal(c, "forum1", "u-pend", 2500000, at(0), asset="USDI")
        w["withdrawals"] = nw
        w["wbulk"] = bulk_withdrawals(c, "forum1", 45, -300, final=True)
        # forum2: a completed withdrawal, and 42 PENDING ones (more than a list holds).
        w["w2"] = [new_withdrawal(c, "forum2", "u2", CKB, at(30), [("PROCESSING", at(31)),
                                                                   ("COMPLETED", at(200))])]
        w["w2"] += bulk_withdrawals(c, "forum2", 42, 100, final=False)
    w["secret2"] = secret2
    yield w
    for job in ("invoice_poller", "fiber_payouts"):
        admin.call_ok("jobs.resume", {"job": job})


def test_no_admin_block_unless_asked(client, world):
    for params in ({}, {"includeAdmin": False},
                   {"includeAdmin": False, "filters": {"withdrawalState": "PENDING",
                                                       "settlementState": "SETTLED"}}):
        res = summary(client, **params)
        assert "admin" not in res, params
    res = summary(client, includeAdmin=True)
    assert "admin" in res
    # The rest of the answer is the same either way.
    plain = summary(client)
    for k in ("balances", "assetBalances", "stats", "tips", "withdrawals"):
        assert res[k] == plain[k], k


def test_shape_and_types(client, world):
    a = block(client)
    assert a["filtersApplied"] == {"withdrawalState": "ALL", "settlementState": "ALL"}
    assert len(a["apps"]) == 1 and set(a["apps"][0]) == {"appId", "createdAt"}
    assert a["apps"][0]["appId"] == "forum1" and ISO_US.match(a["apps"][0]["createdAt"])
    assert len(a["withdrawals"]) == 40 and len(a["settlements"]) == 40
    for w in a["withdrawals"]:
        assert set(w) == WITHDRAWAL_KEYS, w
        assert isinstance(w["id"], str) and uuid.UUID(w["id"])
        assert isinstance(w["userId"], str) and w["asset"] in ("CKB", "USDI")
        assert isinstance(w["amount"], str) and DECIMAL.match(w["amount"]), w
        assert isinstance(w["retryCount"], int) and not isinstance(w["retryCount"], bool)
        assert ISO_US.match(w["createdAt"]) and ISO_US.match(w["updatedAt"]), w
        assert w["createdAt"] <= w["updatedAt"], w
        for k in ("txHash", "lastError"):
            assert w[k] is None or isinstance(w[k], str), w
        assert w["nextRetryAt"] is None or ISO_US.match(w["nextRetryAt"]), w
    for s in a["settlements"]:
        assert set(s) == SETTLEMENT_KEYS, s
        assert isinstance(s["id"], str) and uuid.UUID(s["id"])
        assert s["state"] in ("UNPAID", "SETTLED", "FAILED")
        assert isinstance(s["retryCount"], int) and not isinstance(s["retryCount"], bool)
        assert ISO_US.match(s["createdAt"]), s
        for k in ("settledAt", "nextRetryAt", "lastCheckedAt"):
            assert s[k] is None or ISO_US.match(s[k]), s
        for k in ("lastError", "failureReason"):
            assert s[k] is None or isinstance(s[k], str), s
        assert (s["settledAt"] is not None) == (s["state"] == "SETTLED"), s
        assert (s["nextRetryAt"] is not None) == (s["state"] == "UNPAID"), s
        assert (s["failureReason"] is not None) == (s["state"] == "FAILED"), s
    board = a["pipelineBoard"]
    assert set(board) == {"stageCounts", "invoiceRows"}
    assert [x["stage"] for x in board["stageCounts"]] == ["UNPAID", "SETTLED", "FAILED"]
    for x in board["stageCounts"]:
        assert set(x) == {"stage", "count"} and isinstance(x["count"], int)
    assert len(board["invoiceRows"]) == 40
    for r in board["invoiceRows"]:
        assert set(r) == ROW_KEYS, r
        assert DECIMAL.match(r["amount"]) and ISO_US.match(r["createdAt"]), r
        assert r["timelineHref"] == "/fiber-link/timeline/" + r["invoice"], r


def test_stage_counts_are_exact(db, client, world):
    unpaid = BULK_TIPS - PAID + 2 + 1  # the bulk left open, erring and cleared, the USDI tip
    counts = block(client)["pipelineBoard"]["stageCounts"]
    assert counts == [{"stage": "UNPAID", "count": unpaid}, {"stage": "SETTLED", "count": PAID},
                      {"stage": "FAILED", "count": FAILED}], counts
    assert [c["count"] for c in counts] == [
        db.one("SELECT count(*) FROM tips WHERE app_id = 'forum1' AND state = %s", (s,))[0]
        for s in ("UNPAID", "SETTLED", "FAILED")]
    # The filters narrow the lists, never the counts.
    assert block(client, filters={"settlementState": "SETTLED",
                                  "withdrawalState": "FAILED"})["pipelineBoard"]["stageCounts"] \
        == counts


def newest_tips(db, app, state=None, limit=40):
    return [str(r[0]) for r in db.rows(
        "SELECT id FROM tips WHERE app_id = %s AND (%s::text IS NULL OR state = %s) "
        "ORDER BY created_at DESC, id DESC LIMIT %s", (app, state, state, limit))]


def test_settlements_newest_first_with_their_checks(db, client, world):
    a = block(client)
    got = a["settlements"]
    assert [s["id"] for s in got] == newest_tips(db, "forum1")
    by_id = {s["id"]: s for s in got}
    for s in got:
        (inv, frm, to, state, checks, created, settled, nxt, reason) = db.one(
            "SELECT invoice, from_user_id, to_user_id, state, check_count, "
            + ", ".join(fl_ts(c) for c in ("created_at", "settled_at", "next_check_at"))
            + ", failure_reason FROM tips WHERE id = %s", (s["id"],))
        assert (s["invoice"], s["fromUserId"], s["toUserId"], s["state"], s["retryCount"],
                s["createdAt"], s["settledAt"], s["failureReason"]) == \
            (inv, frm, to, state, checks, created, settled, reason), s
        assert s["nextRetryAt"] == (nxt if state == "UNPAID" else None), s
    # The last check, its error while it is the latest word, the failure's own check.
    e = by_id[world["erring"]]
    assert e["retryCount"] == 2 and e["lastCheckedAt"] == world["erring_checked"]
    assert e["lastError"] == "node unreachable: connection refused"
    cl = by_id[world["cleared"]]
    assert cl["retryCount"] == 2 and cl["lastCheckedAt"] == world["cleared_checked"]
    assert cl["lastError"] is None
    for tid, when in zip(world["failing"], world["failed_at"]):
        f = by_id[tid]
        assert f["state"] == "FAILED" and f["failureReason"] == "EXPIRED"
        assert f["lastCheckedAt"] == when and f["lastError"] is None and f["nextRetryAt"] is None
    # Never checked by the poller: created, then paid through tip.status (which is a check).
    for tid in world["bulk"][PAID:]:
        if tid in by_id:
            assert by_id[tid]["lastCheckedAt"] is None and by_id[tid]["retryCount"] == 0
    u = by_id[world["usdi"]]
    assert u["lastCheckedAt"] is None and u["lastError"] is None


def fl_ts(col):
    return f"to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"


def test_settlement_filter(db, client, world):
    full = block(client)
    for state, n in (("SETTLED", PAID), ("FAILED", FAILED), ("UNPAID", 40)):
        a = block(client, filters={"settlementState": state})
        assert a["filtersApplied"] == {"withdrawalState": "ALL", "settlementState": state}
        assert [s["id"] for s in a["settlements"]] == newest_tips(db, "forum1", state)
        assert len(a["settlements"]) == n and {s["state"] for s in a["settlements"]} == {state}
        # Only the settlement list is narrowed.
        assert a["withdrawals"] == full["withdrawals"]
        assert a["pipelineBoard"] == full["pipelineBoard"]
        assert a["apps"] == full["apps"]
    settled = block(client, filters={"settlementState": "SETTLED"})["settlements"]
    assert {s["id"] for s in settled} == set(world["paid"])
    # Paid through tip.status, which asked the node: that is the last check.
    for s in settled:
        (last,) = db.one("SELECT " + fl_ts("at") + " FROM tip_events WHERE tip_id = %s "
                         "ORDER BY id DESC LIMIT 1", (s["id"],))
        assert s["lastCheckedAt"] == last and s["lastError"] is None, s
        assert s["settledAt"] is not None and s["nextRetryAt"] is None, s
    a = block(client, filters={"settlementState": "ALL", "withdrawalState": "ALL"})
    assert a == full


def test_invoice_rows_are_the_newest_tips(db, client, world):
    rows = block(client, filters={"settlementState": "FAILED"})["pipelineBoard"]["invoiceRows"]
    ids = newest_tips(db, "forum1")
    invoices = {str(r[0]): r[1] for r in db.rows(
        "SELECT id, invoice FROM tips WHERE id = ANY(%s::uuid[])", (ids,))}
    assert [r["invoice"] for r in rows] == [invoices[i] for i in ids]
    by_inv = {r["invoice"]: r for r in rows}
    for tid in ids:
        (inv, state, amount, asset, frm, to, created) = db.one(
            "SELECT invoice, state, amount, asset, from_user_id, to_user_id, "
            + fl_ts("created_at") + " FROM tips WHERE id = %s", (tid,))
        r = by_inv[inv]
        assert (r["state"], r["asset"], r["fromUserId"], r["toUserId"], r["createdAt"]) == \
            (state, asset, frm, to, created), r
        decimals = 8 if asset == "CKB" else 6
        assert r["amount"] == whole(amount, decimals), (r, amount)
    # The amounts in whole units of each asset.
    usdi_invoice = db.one("SELECT invoice FROM tips WHERE id = %s", (world["usdi"],))[0]
    assert by_inv[usdi_invoice]["amount"] == "0.000001" and by_inv[usdi_invoice]["asset"] == "USDI"
    assert {r["amount"] for r in rows} >= {"1", "0.5", "12345.6789", "0.00000001", "7.25", "3",
                                           "4", "2"}


def whole(units, decimals):
    s = f"{units // 10**decimals}.{units % 10**decimals:0{decimals}d}".rstrip("0").rstrip(".")
    return s


def test_withdrawals_by_last_change(client, world):
    nw = world["withdrawals"]
    got = block(client)["withdrawals"]
    order = ["failed", "retrying", "old_completed", "processing", "completed", "liquidity",
             "pending"]
    assert [w["id"] for w in got[:7]] == [nw[k] for k in order]
    # Then the bulk, newest completion first, cut at 40.
    assert [w["id"] for w in got[7:]] == list(reversed(world["wbulk"]))[:33]
    by_id = {w["id"]: w for w in got}
    f = by_id[nw["failed"]]
    assert (f["userId"], f["asset"], f["amount"], f["state"], f["retryCount"], f["createdAt"],
            f["updatedAt"], f["txHash"], f["nextRetryAt"], f["lastError"]) == \
        ("u-failed", "CKB", "3", "FAILED", 0, iso(at(5)), iso(at(60)), None, None,
         "node refused: bad invoice")
    r = by_id[nw["retrying"]]
    assert (r["amount"], r["state"], r["retryCount"], r["updatedAt"], r["lastError"]) == \
        ("1.5", "RETRY_PENDING", 1, iso(at(50)), "send_payment: no route")
    assert r["nextRetryAt"] is not None and r["nextRetryAt"] > iso(datetime.now(timezone.utc))
    o = by_id[nw["old_completed"]]
    assert (o["amount"], o["state"], o["createdAt"], o["updatedAt"], o["lastError"]) == \
        ("12345.67890123", "COMPLETED", iso(at(-100)), iso(at(40)), None)
    p = by_id[nw["processing"]]
    assert (p["amount"], p["state"], p["updatedAt"], p["txHash"], p["nextRetryAt"]) == \
        ("0.00000001", "PROCESSING", iso(at(20)), "0x" + "ab" * 32, None)
    assert by_id[nw["completed"]]["amount"] == "100"
    assert by_id[nw["liquidity"]]["state"] == "LIQUIDITY_PENDING"
    assert by_id[nw["liquidity"]]["updatedAt"] == iso(at(7))
    pend = by_id[nw["pending"]]
    assert (pend["asset"], pend["amount"], pend["state"], pend["updatedAt"], pend["createdAt"],
            pend["nextRetryAt"]) == ("USDI", "2.5", "PENDING", iso(at(0)), iso(at(0)), None)


def test_withdrawal_filter(client, world):
    nw = world["withdrawals"]
    full = block(client)
    for state, expect in (("PENDING", ["pending"]), ("PROCESSING", ["processing"]),
                          ("RETRY_PENDING", ["retrying"]), ("LIQUIDITY_PENDING", ["liquidity"]),
                          ("FAILED", ["failed"])):
        a = block(client, filters={"withdrawalState": state})
        assert a["filtersApplied"] == {"withdrawalState": state, "settlementState": "ALL"}
        assert [w["id"] for w in a["withdrawals"]] == [nw[k] for k in expect], state
        assert a["settlements"] == full["settlements"]
    got = block(client, filters={"withdrawalState": "COMPLETED"})["withdrawals"]
    assert len(got) == 40 and {w["state"] for w in got} == {"COMPLETED"}
    assert [w["id"] for w in got] == [nw["old_completed"], nw["completed"]] + \
        list(reversed(world["wbulk"]))[:38]


def test_another_app_never_appears(db, daemon, client, world):
    a1 = block(client)
    ids1 = {w["id"] for w in a1["withdrawals"]} | {s["id"] for s in a1["settlements"]}
    others = set(world["w2"]) | set(world["tips2"])
    assert not ids1 & others
    inv2 = {r[0] for r in db.rows("SELECT invoice FROM tips WHERE app_id = 'forum2'")}
    assert not {r["invoice"] for r in a1["pipelineBoard"]["invoiceRows"]} & inv2
    assert not {s["invoice"] for s in a1["settlements"]} & inv2
    assert [x["appId"] for x in a1["apps"]] == ["forum1"]
    # forum2 sees its own, and nothing of forum1's; its withdrawals in flight are cut at 40 too.
    with fl.Client(daemon.base, "forum2", world["secret2"]) as c2:
        a2 = block(c2)
        (created,) = db.one("SELECT " + fl_ts("created_at") + " FROM apps WHERE app_id = 'forum2'")
        assert a2["apps"] == [{"appId": "forum2", "createdAt": created}]
        assert {s["id"] for s in a2["settlements"]} == set(world["tips2"])
        assert a2["pipelineBoard"]["stageCounts"] == [
            {"stage": "UNPAID", "count": 2}, {"stage": "SETTLED", "count": 0},
            {"stage": "FAILED", "count": 0}]
        assert len(a2["pipelineBoard"]["invoiceRows"]) == 2
        ws = a2["withdrawals"]
        assert len(ws) == 40 and {w["id"] for w in ws} <= set(world["w2"])
        # The completed one changed last (minute 200), then the PENDING ones by creation.
        assert ws[0]["id"] == world["w2"][0]
        assert [w["id"] for w in ws[1:]] == list(reversed(world["w2"][1:]))[:39]
        pend = block(c2, filters={"withdrawalState": "PENDING"})["withdrawals"]
        assert [w["id"] for w in pend] == list(reversed(world["w2"][1:]))[:40]
        assert not {w["id"] for w in ws} & {w["id"] for w in a1["withdrawals"]}
