"""`fiberlinkd reconcile [--check-node]`: clean after real settlements through the API and the
simulator; each way of breaking the ledger (missing, doubled or wrong settlement transfers, a
transfer for a tip that is not SETTLED, a negative author balance, an asset that no longer sums to
zero) is named by its finding with exit code 2; an unreachable database is exit code 1; and with
--check-node a tip SETTLED in the database whose invoice the node still calls Open is reported.

The corruption tests each get a fresh database whose tips are created and settled by the same
plpgsql functions the daemon calls, then broken by direct SQL (transfers are append-only, so
changing or deleting one means disabling its trigger inside the test's own transaction)."""

import shlex
import uuid

import psycopg
import pytest

import fl
from conftest import drop_database, make_database, migrate_and_register


def reconcile(url, *args, **settings):
    env = {"FIBERLINK_DATABASE_URL": url}
    env.update(settings)
    return fl.run_cli(["reconcile", *args], env=env, timeout=60)


def findings(r):
    """The finding lines of a run as dicts (values unquoted like a shell would)."""
    out = []
    for line in r.stdout.splitlines():
        fields = dict(part.split("=", 1) for part in shlex.split(line))
        assert "finding" in fields, line
        out.append(fields)
    return out


def assert_clean(url, *args, **settings):
    r = reconcile(url, *args, **settings)
    assert r.returncode == 0, f"reconcile: {r.returncode}\n{r.stdout}{r.stderr}"
    assert r.stdout == "", r.stdout
    assert "reconcile: checked" in r.stderr and " 0 findings" in r.stderr, r.stderr
    return r


def assert_findings(url, *args, **settings):
    r = reconcile(url, *args, **settings)
    assert r.returncode == 2, f"reconcile: {r.returncode}\n{r.stdout}{r.stderr}"
    found = findings(r)
    assert found, r.stdout
    assert f" {len(found)} findings" in r.stderr, r.stderr
    return found


def names(found):
    return {f["finding"] for f in found}


# ---- against the module's database, settled through the API and fnn-sim ----------------------

def test_empty_database_is_clean(db):
    r = assert_clean(db.url)
    assert "checked 0 tips, 0 transfers" in r.stderr, r.stderr


def test_clean_after_settling_through_the_api(db, sim, client):
    tips = []
    for i in range(12):
        res = client.result("tip.create", fl.tip_params(toUserId=f"author{i % 3}",
                                                        amount=f"{i + 1}.25"))
        tips.append(res)
    for res in tips[:8]:
        sim.pay(res["invoice"])
    fl.wait_until(lambda: db.one("SELECT count(*) FROM tips WHERE state = 'SETTLED'")[0] == 8,
                  20, "the poller to settle the paid tips")
    r = assert_clean(db.url)
    assert "checked 12 tips, 8 transfers" in r.stderr, r.stderr
    db.check_invariants()


def test_check_node_clean_when_every_settled_tip_is_paid(db, sim):
    r = assert_clean(db.url, "--check-node", FIBERLINK_FNN_RPC_URL=sim.url)
    settled = db.one("SELECT count(*) FROM tips WHERE state = 'SETTLED'")[0]
    assert settled > 0
    assert f"{settled} invoices at the node" in r.stderr, r.stderr


def test_check_node_reports_a_settled_tip_still_open_at_the_node(db, sim, client):
    res = client.result("tip.create", fl.tip_params(toUserId="carol", amount="3"))
    # Marked SETTLED by the database alone (with its transfer, so the ledger itself is sound):
    # only the node can tell that nobody paid.
    db.rows("SELECT applied FROM fl_settle_tip(%s, 300000000, 'test', 'Paid')", (res["tipId"],))
    assert_clean(db.url)
    found = assert_findings(db.url, "--check-node", FIBERLINK_FNN_RPC_URL=sim.url)
    assert found == [{"finding": "settled_tip_not_paid_at_node", "tip_id": res["tipId"],
                      "app_id": db.app_id, "node_status": "Open"}], found


def test_check_node_reports_an_unreachable_node(db):
    url = f"http://127.0.0.1:{fl.free_port()}"
    found = assert_findings(db.url, "--check-node", FIBERLINK_FNN_RPC_URL=url,
                            FIBERLINK_FNN_TIMEOUT_MS="2000")
    settled = db.one("SELECT count(*) FROM tips WHERE state = 'SETTLED'")[0]
    assert names(found) == {"node_check_failed"}, found
    assert len(found) == settled, found


def test_unreachable_database_is_an_error():
    url = f"host=127.0.0.1 port={fl.free_port()} user=postgres dbname=none connect_timeout=3"
    r = reconcile(url)
    assert r.returncode == 1, r
    assert r.stdout == "", r.stdout
    assert "cannot connect" in r.stderr, r.stderr


def test_unknown_argument_is_an_error(db):
    r = reconcile(db.url, "--frobnicate")
    assert r.returncode == 1, r
    assert "--frobnicate" in r.stderr


# ---- corruptions, each on a fresh database ----------------------------------------------------

def fail_tip(lg, tip, reason, node_status):
    """Fails an open tip the way the poller does: under a lease token of its own."""
    rows = lg.sql("UPDATE tips SET lease_token = nextval('tip_lease_seq') WHERE id = %s",
                  f"SELECT applied FROM fl_fail_tip_fenced(%s, currval('tip_lease_seq'), "
                  f"'{reason}', 'test', '{node_status}')", params=(tip,))
    assert rows == [(True,)], rows


class Ledger:
    """A fresh database with app forum1 and helpers that drive the daemon's own SQL functions."""

    def __init__(self, url):
        self.url = url

    def sql(self, *statements, params=()):
        """Runs the statements in one transaction (params go to those with placeholders);
        returns the last one's rows (if any)."""
        with psycopg.connect(self.url) as c:
            cur = None
            for s in statements:
                cur = c.execute(s, params if "%s" in s else ())
            rows = cur.fetchall() if cur is not None and cur.description else []
            c.commit()
            return rows

    def tip(self, to_user="bob", amount=1000, asset="CKB"):
        tip_id = str(uuid.uuid4())
        self.sql("SELECT inserted FROM fl_tip_insert(%s, 'forum1', NULL, 'h', 'post', NULL, "
                 "'alice', %s, %s, %s, NULL, %s, %s, now() + interval '1 hour')",
                 params=(tip_id, to_user, asset, amount, "inv-" + tip_id,
                         "0x" + uuid.uuid4().hex * 2))
        return tip_id

    def settle(self, tip_id, amount=1000):
        rows = self.sql("SELECT applied FROM fl_settle_tip(%s, %s, 'test', 'Paid')",
                        params=(tip_id, amount))
        assert rows == [(True,)], rows
        return tip_id

    def settled_tip(self, **kw):
        return self.settle(self.tip(**kw), kw.get("amount", 1000))

    def account(self, kind, user, asset="CKB"):
        return self.sql("SELECT fl_account('forum1', %s, %s, %s)", params=(kind, user, asset))[0][0]

    def transfer(self, debit, credit, amount, kind="ADJUST", ref="x", key=None, asset="CKB"):
        self.sql("INSERT INTO transfers (app_id, debit_account, credit_account, asset, amount, "
                 "kind, ref, idempotency_key) VALUES ('forum1', %s, %s, %s, %s, %s, %s, %s)",
                 params=(debit, credit, asset, amount, kind, ref, key or str(uuid.uuid4())))

    def rewrite(self, statement, params=()):
        """A change the append-only trigger would refuse."""
        self.sql("ALTER TABLE transfers DISABLE TRIGGER transfers_append_only", statement,
                 "ALTER TABLE transfers ENABLE TRIGGER transfers_append_only", params=params)


@pytest.fixture
def ledger(pg):
    name = make_database(pg, "reconcile_corrupt")
    url = pg.conninfo(name)
    migrate_and_register(url)
    lg = Ledger(url)
    # A little honest history around each corruption: settled, open and failed tips.
    for i in range(3):
        lg.settled_tip(to_user=f"u{i}")
    lg.tip()
    failed = lg.tip()
    fail_tip(lg, failed, "EXPIRED", "Expired")
    assert_clean(url)
    yield lg
    drop_database(pg, name)


def test_missing_settlement_transfer(ledger):
    tip = ledger.settled_tip()
    ledger.rewrite("DELETE FROM transfers WHERE idempotency_key = 'settlement:tip:' || %s",
                   params=(tip,))
    found = assert_findings(ledger.url)
    assert found == [{"finding": "settled_tip_without_transfer", "tip_id": tip,
                      "app_id": "forum1"}], found


def test_duplicate_settlement_transfer(ledger):
    tip = ledger.settled_tip(to_user="bob")
    ledger.transfer(ledger.account("NODE", ""), ledger.account("USER", "bob"), 1000,
                    kind="SETTLEMENT", ref=tip, key=f"settlement:tip:{tip}:again")
    found = assert_findings(ledger.url)
    dup = [f for f in found if f["finding"] == "settled_tip_duplicate_transfers"]
    assert dup == [{"finding": "settled_tip_duplicate_transfers", "tip_id": tip,
                    "app_id": "forum1", "transfers": "2"}], found
    assert names(found) == {"settled_tip_duplicate_transfers", "settlement_wrong_key"}, found


def test_settlement_transfer_of_the_wrong_amount(ledger):
    tip = ledger.settled_tip(amount=1000)
    ledger.rewrite("UPDATE transfers SET amount = 999 "
                   "WHERE idempotency_key = 'settlement:tip:' || %s", params=(tip,))
    found = assert_findings(ledger.url)
    assert len(found) == 1 and found[0]["finding"] == "settlement_amount_mismatch", found
    assert found[0]["tip_id"] == tip
    assert found[0]["amount"] == "999" and found[0]["settled_amount"] == "1000", found


def test_settled_amount_differs_from_the_tip_amount(ledger):
    tip = ledger.settle(ledger.tip(amount=1000), amount=1200)
    found = assert_findings(ledger.url)
    assert found == [{"finding": "settled_amount_mismatch", "tip_id": tip, "app_id": "forum1",
                      "asset": "CKB", "amount": "1000", "settled_amount": "1200"}], found


def test_settlement_transfer_credited_to_someone_else(ledger):
    tip = ledger.settled_tip(to_user="bob")
    mallory = ledger.account("USER", "mallory")
    ledger.rewrite("UPDATE transfers SET credit_account = %s "
                   "WHERE idempotency_key = 'settlement:tip:' || %s", params=(mallory, tip))
    found = assert_findings(ledger.url)
    assert names(found) == {"settlement_wrong_credit_account"}, found
    assert found[0]["credit_user_id"] == "mallory" and found[0]["to_user_id"] == "bob", found


def test_settlement_transfer_without_a_tip(ledger):
    ghost = str(uuid.uuid4())
    ledger.transfer(ledger.account("NODE", ""), ledger.account("USER", "bob"), 500,
                    kind="SETTLEMENT", ref=ghost, key=f"settlement:tip:{ghost}")
    found = assert_findings(ledger.url)
    assert names(found) == {"settlement_transfer_without_tip"}, found
    assert found[0]["ref"] == ghost, found


@pytest.mark.parametrize("state", ["UNPAID", "FAILED"])
def test_settlement_transfer_for_a_tip_not_settled(ledger, state):
    tip = ledger.tip(to_user="bob")
    if state == "FAILED":
        fail_tip(ledger, tip, "CANCELLED", "Cancelled")
    ledger.transfer(ledger.account("NODE", ""), ledger.account("USER", "bob"), 1000,
                    kind="SETTLEMENT", ref=tip, key=f"settlement:tip:{tip}")
    found = assert_findings(ledger.url)
    assert found == [{"finding": "settlement_transfer_unsettled_tip",
                      "transfer_id": found[0]["transfer_id"], "tip_id": tip, "app_id": "forum1",
                      "tip_state": state}], found


def test_negative_user_balance(ledger):
    ledger.settled_tip(to_user="bob", amount=1000)
    bob = ledger.account("USER", "bob")
    ledger.transfer(bob, ledger.account("PAID_OUT", ""), 1500)
    found = assert_findings(ledger.url)
    assert found == [{"finding": "negative_user_balance", "app_id": "forum1", "user_id": "bob",
                      "asset": "CKB", "account_id": str(bob), "balance": "-500"}], found


def test_transfer_between_assets_unbalances_both(ledger):
    ledger.settled_tip(to_user="bob", amount=1000)
    bob_usdi = ledger.account("USER", "bob", "USDI")
    ledger.transfer(ledger.account("NODE", ""), bob_usdi, 700, asset="CKB")
    found = assert_findings(ledger.url)
    assert names(found) == {"asset_unbalanced", "transfer_account_mismatch"}, found
    sums = {f["asset"]: f["sum"] for f in found if f["finding"] == "asset_unbalanced"}
    assert sums == {"CKB": "-700", "USDI": "700"}, found


def test_values_with_spaces_are_quoted(ledger):
    tip = ledger.settled_tip(to_user="user with spaces")
    ledger.rewrite("DELETE FROM transfers WHERE idempotency_key = 'settlement:tip:' || %s",
                   params=(tip,))
    # The author's credit went with the transfer; overdraw them to get their id printed.
    user = ledger.account("USER", "user with spaces")
    ledger.transfer(user, ledger.account("PAID_OUT", ""), 5)
    r = reconcile(ledger.url)
    assert r.returncode == 2, r
    assert 'user_id="user with spaces"' in r.stdout, r.stdout


# ---- withdrawals: reserved once, then exactly one of in flight / paid out / refunded ----------

def withdrawal(ledger, user="u0", amount=400):
    """A withdrawal through the balance gate (funded by the fixture's settled tips)."""
    wid = str(uuid.uuid4())
    rows = ledger.sql(
        "SELECT outcome FROM fl_withdrawal_request(%s, 'forum1', %s, 'CKB', %s, %s, %s, NULL, "
        "'h', true, 1, 1000000, 1000000, 1000000, 0, 10)",
        params=(wid, user, amount, "pr-" + wid, "0x" + uuid.uuid4().hex * 2))
    assert rows == [("CREATED",)], rows
    return wid


def hold(ledger, wid):
    """Takes the withdrawal's lease as a runner's claim does; returns the lease token that the
    fenced complete and fail steps ask for."""
    return ledger.sql("UPDATE withdrawals SET state = 'PROCESSING', "
                      "lease_until = now() + interval '1 minute', "
                      "lease_token = nextval('withdrawal_lease_token_seq') WHERE id = %s "
                      "RETURNING lease_token", params=(wid,))[0][0]


def test_withdrawals_in_each_state_are_clean(ledger):
    live = withdrawal(ledger, "u0")
    done = withdrawal(ledger, "u1")
    ledger.sql("SELECT applied FROM fl_withdrawal_complete(%s, %s, 3, 'test')",
               params=(done, hold(ledger, done)))
    failed = withdrawal(ledger, "u2")
    ledger.sql("SELECT applied FROM fl_withdrawal_fail(%s, %s, 'PAYMENT_FAILED', 'test')",
               params=(failed, hold(ledger, failed)))
    assert live and assert_clean(ledger.url)


def test_completed_withdrawal_also_refunded(ledger):
    wid = withdrawal(ledger, "u1")
    ledger.sql("SELECT applied FROM fl_withdrawal_complete(%s, %s, 0, 'test')",
               params=(wid, hold(ledger, wid)))
    ledger.transfer(ledger.account("WITHDRAWAL_INFLIGHT", ""), ledger.account("USER", "u1"), 400,
                    kind="WITHDRAWAL_REFUND", ref=wid)
    found = assert_findings(ledger.url)
    assert {"completed_withdrawal_mismatch", "inflight_balance_mismatch"} == names(found), found
    assert found[0]["withdrawal_id"] == wid and found[0]["refunds"] == "1"


def test_failed_withdrawal_without_refund(ledger):
    wid = withdrawal(ledger, "u2")
    ledger.sql("SELECT applied FROM fl_withdrawal_fail(%s, %s, 'PAYMENT_FAILED', 'test')",
               params=(wid, hold(ledger, wid)))
    ledger.rewrite("DELETE FROM transfers WHERE idempotency_key = 'withdrawal:refund:' || %s",
                   params=(wid,))
    found = assert_findings(ledger.url)
    assert "failed_withdrawal_mismatch" in names(found), found


def test_withdrawal_transfer_without_withdrawal(ledger):
    ledger.transfer(ledger.account("USER", "u0"), ledger.account("WITHDRAWAL_INFLIGHT", ""), 5,
                    kind="WITHDRAWAL_RESERVE", ref=str(uuid.uuid4()))
    found = assert_findings(ledger.url)
    assert {"withdrawal_transfer_without_withdrawal", "inflight_balance_mismatch"} == names(found)
