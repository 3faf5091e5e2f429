"""tip.settled_feed: SETTLED tips of the calling app only, in (settledAt, id) order, paged by a
cursor that is accepted back exactly at microsecond precision. Pages of 1, 2 and 3 items walk the
whole feed with no duplicate and no gap, including several tips forced onto one identical
settled_at; a second app sees none of the first app's tips; bad params name their field."""

import re
import uuid

import psycopg
import pytest

import fl

SETTLED_AT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
ITEM_KEYS = {"tipIntentId", "postId", "topicId", "invoice", "amount", "asset", "fromUserId",
             "toUserId", "message", "settledAt"}


def execute(db, sql, params=()):
    """A statement that returns no rows (db.rows expects some)."""
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(sql, params)


def settle_tip(c, sim, **params):
    """Creates a tip through the API, pays it at the simulator and settles it via tip.status."""
    res = c.result("tip.create", fl.tip_params(**params))
    sim.pay(res["invoice"])
    st = c.result("tip.status", {"tipId": res["tipId"]})
    assert st["state"] == "SETTLED", st
    return res


def expected_order(db, app_id):
    rows = db.rows("SELECT id FROM tips WHERE app_id = %s AND state = 'SETTLED' "
                   "ORDER BY settled_at, id", (app_id,))
    return [str(r[0]) for r in rows]


def walk(c, limit, follow="item"):
    """Pages through the whole feed. follow="item" builds each cursor from the last item, as the
    forum plugin does; follow="next" uses nextCursor. Returns the items in order."""
    items, after, pages = [], None, 0
    while True:
        params = {"limit": limit}
        if after is not None:
            params["after"] = after
        res = c.result("tip.settled_feed", params)
        assert set(res) == {"items", "nextCursor"}, res
        page = res["items"]
        pages += 1
        assert len(page) <= limit, (limit, page)
        items.extend(page)
        if res["nextCursor"] is None:
            break
        assert len(page) == limit, res
        last = page[-1]
        assert res["nextCursor"] == {"settledAt": last["settledAt"], "id": last["tipIntentId"]}
        after = res["nextCursor"] if follow == "next" else {"settledAt": last["settledAt"],
                                                            "id": last["tipIntentId"]}
        assert pages < 1000, "the feed does not end"
    # Following the plugin's own stop rule (a short page) must end at the same place: one more
    # call after the last item answers nothing.
    if items:
        last = items[-1]
        res = c.result("tip.settled_feed", {"limit": limit, "after": {
            "settledAt": last["settledAt"], "id": last["tipIntentId"]}})
        assert res == {"items": [], "nextCursor": None}, res
    return items


@pytest.fixture(scope="module")
def feed_tips(db, sim, daemon):
    """Seven settled tips in forum1, three of them forced onto one identical settled_at, plus an
    UNPAID and a FAILED tip that must never show up."""
    with fl.Client(daemon.base, db.app_id, db.secret) as c:
        settled = [settle_tip(c, sim, postId=f"post-{i}", toUserId=f"author-{i % 3}",
                              fromUserId=f"fan-{i}", amount=f"{i + 1}.5")
                   for i in range(7)]
        unpaid = c.result("tip.create", fl.tip_params(postId="unpaid"))
        failed = c.result("tip.create", fl.tip_params(postId="failed"))
    execute(db, "UPDATE tips SET state = 'FAILED', failure_reason = 'EXPIRED' WHERE id = %s",
            (failed["tipId"],))
    same = [settled[i]["tipId"] for i in (1, 3, 5)]
    execute(db, "UPDATE tips SET settled_at = (SELECT settled_at FROM tips WHERE id = %s) "
            "WHERE id = ANY(%s::uuid[])", (same[0], same))
    return {"settled": settled, "same": same, "unpaid": unpaid, "failed": failed}


def test_item_shape(db, client, feed_tips):
    res = client.result("tip.settled_feed", {})
    assert res["items"], res
    by_id = {it["tipIntentId"]: it for it in res["items"]}
    first = feed_tips["settled"][0]
    it = by_id[first["tipId"]]
    assert set(it) == ITEM_KEYS, it
    assert it["postId"] == "post-0" and it["topicId"] == "t1", it
    assert it["invoice"] == first["invoice"], it
    assert it["amount"] == "1.5" and it["asset"] == "CKB", it
    assert it["fromUserId"] == "fan-0" and it["toUserId"] == "author-0", it
    assert it["message"] == "thanks", it
    assert SETTLED_AT.match(it["settledAt"]), it
    db_settled = db.one("SELECT to_char(settled_at AT TIME ZONE 'UTC', "
                        "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM tips WHERE id = %s",
                        (first["tipId"],))[0]
    assert it["settledAt"] == db_settled


def test_optional_fields_are_null(client, sim, feed_tips):
    res = settle_tip(client, sim, postId="bare", topicId=fl.DROP, message=fl.DROP, amount="3")
    items = walk(client, 100)
    it = next(i for i in items if i["tipIntentId"] == res["tipId"])
    assert it["topicId"] is None and it["message"] is None, it
    assert it["amount"] == "3", it


def test_default_limit_is_20(client, sim, feed_tips):
    while len(walk(client, 100)) <= 21:
        settle_tip(client, sim, postId="filler", toUserId=f"filler-{uuid.uuid4().hex[:6]}")
    res = client.result("tip.settled_feed", {})
    assert len(res["items"]) == 20 and res["nextCursor"] is not None, res


@pytest.mark.parametrize("limit", [1, 2, 3])
@pytest.mark.parametrize("follow", ["item", "next"])
def test_paging_has_no_duplicates_and_no_gaps(db, client, feed_tips, limit, follow):
    items = walk(client, limit, follow)
    ids = [it["tipIntentId"] for it in items]
    assert len(ids) == len(set(ids)), f"duplicates in the feed: {ids}"
    assert ids == expected_order(db, db.app_id)
    unsettled = {feed_tips["unpaid"]["tipId"], feed_tips["failed"]["tipId"]}
    assert not unsettled & set(ids)
    # The three tips forced onto one settled_at are all there, in id order, with one settledAt.
    same = [it for it in items if it["tipIntentId"] in feed_tips["same"]]
    assert len(same) == 3 and len({it["settledAt"] for it in same}) == 1, same
    assert [it["tipIntentId"] for it in same] == sorted(feed_tips["same"])
    keys = [(it["settledAt"], it["tipIntentId"]) for it in items]
    assert keys == sorted(keys)


def test_cursor_round_trip_at_microsecond_precision(db, sim, client, feed_tips):
    """Three tips a microsecond apart, and two on the same microsecond: a cursor on each must
    resume exactly after it, whatever ISO spelling of that instant the client sends back. (The
    times lie in the past, so the five lead the feed: the feed never shows a settlement stamped
    after the present, which a later one could precede.)"""
    ids = sorted(settle_tip(client, sim, postId=f"micro-{i}")["tipId"] for i in range(5))
    times = ["2021-05-06 07:08:09.123455+00", "2021-05-06 07:08:09.123456+00",
             "2021-05-06 07:08:09.123456+00", "2021-05-06 07:08:09.123457+00",
             "2021-05-06 07:08:10+00"]
    for tip_id, ts in zip(ids, times):
        execute(db, "UPDATE tips SET settled_at = %s::timestamptz WHERE id = %s", (ts, tip_id))
    items = walk(client, 100)
    order = [it["tipIntentId"] for it in items]
    tail = items[:5]
    assert order[:5] == ids, tail
    assert [it["settledAt"] for it in tail] == [
        "2021-05-06T07:08:09.123455Z", "2021-05-06T07:08:09.123456Z",
        "2021-05-06T07:08:09.123456Z", "2021-05-06T07:08:09.123457Z",
        "2021-05-06T07:08:10.000000Z"]
    for k, it in enumerate(tail):
        cursor = {"settledAt": it["settledAt"], "id": it["tipIntentId"]}
        res = client.result("tip.settled_feed", {"limit": 100, "after": cursor})
        assert [x["tipIntentId"] for x in res["items"]] == order[k + 1:], (cursor, res)
    # The same instant spelt with an offset, or with nanosecond zeros, is the same cursor.
    second = tail[1]
    for spelling in ("2021-05-06T09:08:09.123456+02:00", "2021-05-06T07:08:09.123456000Z",
                     "2021-05-06T07:08:09.123456+00:00"):
        res = client.result("tip.settled_feed", {"limit": 100, "after": {
            "settledAt": spelling, "id": second["tipIntentId"]}})
        assert [x["tipIntentId"] for x in res["items"]] == order[2:], (spelling, res)
    # Rounded to milliseconds, a cursor would land elsewhere: 123 ms precedes all five.
    res = client.result("tip.settled_feed", {"limit": 100, "after": {
        "settledAt": "2021-05-06T07:08:09.123Z", "id": second["tipIntentId"]}})
    assert [x["tipIntentId"] for x in res["items"]] == order
    # A cursor past the end answers an empty page with a null nextCursor.
    res = client.result("tip.settled_feed", {"after": {
        "settledAt": "2099-01-01T00:00:00Z", "id": str(uuid.uuid4())}})
    assert res == {"items": [], "nextCursor": None}


def test_other_app_sees_nothing(db, sim, daemon, client, feed_tips):
    r = fl.run_cli(["app", "create", "--app-id", "forum2"], env={"FIBERLINK_DATABASE_URL": db.url})
    assert r.returncode == 0, r.stdout + r.stderr
    secret = dict(l.split("=", 1) for l in r.stdout.splitlines() if "=" in l)["secret"]
    with fl.Client(daemon.base, "forum2", secret) as c2:
        assert c2.result("tip.settled_feed", {}) == {"items": [], "nextCursor": None}
        # A forum1 cursor does not reveal anything either.
        first = client.result("tip.settled_feed", {"limit": 1})["items"][0]
        res = c2.result("tip.settled_feed", {"after": {"settledAt": "1970-01-01T00:00:00Z",
                                                       "id": first["tipIntentId"]}})
        assert res == {"items": [], "nextCursor": None}
        own = settle_tip(c2, sim, postId="forum2-post")
        res = c2.result("tip.settled_feed", {})
        assert [it["tipIntentId"] for it in res["items"]] == [own["tipId"]]
    assert own["tipId"] not in [it["tipIntentId"] for it in walk(client, 100)]


GOOD_ID = "0b6a3c1e-7f2d-4e8a-9c1b-2d3e4f5a6b7c"


@pytest.mark.parametrize("params,field", [
    ({"limit": 0}, "limit"),
    ({"limit": 101}, "limit"),
    ({"limit": "5"}, "limit"),
    ({"limit": 2.5}, "limit"),
    ({"after": "2026-01-01T00:00:00Z"}, "after"),
    ({"after": []}, "after"),
    ({"after": {}}, "after.settledAt"),
    ({"after": {"settledAt": 1700000000, "id": GOOD_ID}}, "after.settledAt"),
    ({"after": {"settledAt": "yesterday", "id": GOOD_ID}}, "after.settledAt"),
    ({"after": {"settledAt": "2026-02-30T00:00:00Z", "id": GOOD_ID}}, "after.settledAt"),
    ({"after": {"settledAt": "2026-01-01T00:00:00", "id": GOOD_ID}}, "after.settledAt"),
    ({"after": {"settledAt": "2026-01-01T00:00:00.1234567Z", "id": GOOD_ID}}, "after.settledAt"),
    ({"after": {"settledAt": "2026-01-01T00:00:00Z"}}, "after.id"),
    ({"after": {"settledAt": "2026-01-01T00:00:00Z", "id": "tip_1"}}, "after.id"),
    ({"after": {"settledAt": "2026-01-01T00:00:00Z", "id": 5}}, "after.id"),
])
def test_bad_params_name_the_field(client, params, field):
    err = client.error("tip.settled_feed", params)
    assert err["code"] == -32602, err
    assert err["data"]["field"] == field, err
    assert field in err["message"], err


def test_null_params_mean_defaults(client, feed_tips):
    res = client.result("tip.settled_feed", {"limit": None, "after": None})
    assert len(res["items"]) == min(20, len(walk(client, 100)))
    assert client.result("tip.settled_feed") == res


def test_feed_uses_the_settled_index(db):
    # The table is tiny, so the planner may prefer a sequential scan, or a bitmap scan of the index
    # followed by a sort; with both disabled it must be able to serve the page from the index in
    # order (no sort). A missing or wrongly ordered index still shows up as a Sort or another index.
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")
        conn.execute("SET enable_bitmapscan = off")
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN SELECT id FROM tips t WHERE t.app_id = 'forum1' AND t.state = 'SETTLED' "
            "AND (t.settled_at, t.id) > (coalesce(NULL::timestamptz, '-infinity'), "
            "coalesce(NULL::uuid, '00000000-0000-0000-0000-000000000000')) "
            "AND t.settled_at < clock_timestamp() "
            "ORDER BY t.settled_at, t.id LIMIT 21").fetchall())
    assert "tips_settled_feed_idx" in plan, plan
    assert "Sort" not in plan, plan


def test_settlement_committing_late_is_not_skipped(db, client, feed_tips):
    # Two settlements: the first stamps its settled_at and stays open, the second stamps a later
    # one and commits. A page read in between must not show the second (its cursor would pass the
    # first for good); once the first commits, the page from the same cursor has both, in order.
    last = walk(client, 100)[-1]
    cursor = {"settledAt": last["settledAt"], "id": last["tipIntentId"]}
    first, second = (client.result("tip.create", fl.tip_params(postId=f"late-{i}"))["tipId"]
                     for i in range(2))

    def settle(conn, tip):
        amount = db.one("SELECT amount FROM tips WHERE id = %s", (tip,))[0]
        conn.execute("SELECT fl_settle_tip(%s, %s, 'test', 'Paid')", (tip, amount))

    with psycopg.connect(db.url) as slow:
        settle(slow, first)
        with psycopg.connect(db.url, autocommit=True) as fast:
            settle(fast, second)
        settled = db.rows("SELECT id::text FROM tips WHERE id IN (%s, %s) AND state = 'SETTLED'",
                          (first, second))
        assert settled == [(second,)], settled  # the first is not committed yet
        page = client.result("tip.settled_feed", {"after": cursor})
        assert page == {"items": [], "nextCursor": None}, page
        slow.commit()
    page = client.result("tip.settled_feed", {"after": cursor})
    assert [i["tipIntentId"] for i in page["items"]] == [first, second], page


def test_invariants_hold(db, feed_tips):
    db.check_invariants()
