"""A third-party check of the hub's CKB code: what our C builds must be what the CKB ecosystem
computes. CCC (@ckb-ccc/core, pinned in tests/thirdparty/package.json) reads the same addresses
and the same signed payout transactions as our C code, and the two answers are compared:

- addresses (every vector of ckb-onchain.md §1 and random short/full ones from ckbaddr.py): our
  ckb_address_decode (through build/ckb-inspect) and ccc.Address.fromString name the same script,
  or both refuse;
- payouts of 1, 10 and 100 outputs plus change, built and signed by ckb-tx-tool (core/ckb_tx.h +
  core/ckb_sign.h, the hub's builder and signer) with the stock dev key: CCC computes the same tx
  hash and size, recomputes the SIGHASH_ALL message and recovers a key whose default lock is the
  wallet's, signs the same message to the same bytes (RFC 6979 on both sides), finds our fee
  (size·rate/1000 rounded up) ≥ its estimateFee and equal to inputs − outputs, and agrees on every
  output's occupied capacity;
- a capacity changed after signing: CCC's hash differs from ours and the signature no longer
  verifies (the check can fail).

The npm packages are installed once into .state/ccc/<lock digest> (ignored by git; $FL_CCC_CACHE
overrides .state/ccc) and reused. When the npm registry cannot be reached and nothing is cached, the module is SKIPPED with
the reason; any other failure (node or npm missing, an install error with the registry up) FAILS.
"""

import hashlib
import json
import os
import random
import shutil
import subprocess
import time

import pytest

import ckbaddr
import fl

HERE = os.path.join(fl.REPO, "tests", "thirdparty")
DEV_KEY = "0xd00c06bfd800d27397002dca6fb0993d5ba6399b4238b2f29ee9deb97593d2bc"
DEV_ARGS = "0xc8328aabcd9b9e8e64fbc566c4385c3bdeb219d7"
SIGHASH = "0x" + ckbaddr.SIGHASH_CODE_HASH.hex()
WALLET_LOCK = {"code_hash": SIGHASH, "hash_type": "type", "args": DEV_ARGS}
# The stock dev chain's sighash dep group (ckb-onchain.md §2).
DEV_DEP = {"tx_hash": "0xace5ea83c478bb866edf122ff862085789158f5cbff155b7bb5f13058555b708",
           "index": "0x0"}
SHANNONS = 100_000_000
FEE_RATE = 1000
SEED = int(os.environ.get("FL_TEST_SEED", str(int.from_bytes(os.urandom(4), "big"))))

# ckb-onchain.md §1: (address, code_hash, hash_type, args); code_hash/args default as in the table.
ARGS0 = "b39bbc0b3673c7d36450bc14cfcdad2d559c6c64"
REF_VALID = [
    ("ckb1qzda0cr08m85hc8jlnfp3zer7xulejywt49kt2rr0vthywaa50xwsqdnnw7qkdnnclfkg59uzn8umtfd2kwxceqxwquc4", "type", ARGS0),
    ("ckb1qzda0cr08m85hc8jlnfp3zer7xulejywt49kt2rr0vthywaa50xwsq9nnw7qkdnnclfkg59uzn8umtfd2kwxceqvguktl", "data", ARGS0),
    ("ckb1qzda0cr08m85hc8jlnfp3zer7xulejywt49kt2rr0vthywaa50xwsq4nnw7qkdnnclfkg59uzn8umtfd2kwxceqcydzyt", "data1", ARGS0),
    ("ckb1qzda0cr08m85hc8jlnfp3zer7xulejywt49kt2rr0vthywaa50xwsp9nnw7qkdnnclfkg59uzn8umtfd2kwxceqzcxpsa", "data2", ARGS0),
    ("ckt1qzda0cr08m85hc8jlnfp3zer7xulejywt49kt2rr0vthywaa50xwsqdnnw7qkdnnclfkg59uzn8umtfd2kwxceqgutnjd", "type", ARGS0),
    ("ckb1qzda0cr08m85hc8jlnfp3zer7xulejywt49kt2rr0vthywaa50xwsqg4nzg20jktgj54hmc8gvrygv7hv00z98qcdnk0k", "type", "159890a7cacb44a95bef0743064433d763de229c"),
    ("ckt1qzda0cr08m85hc8jlnfp3zer7xulejywt49kt2rr0vthywaa50xwsqg4nzg20jktgj54hmc8gvrygv7hv00z98qklce9w", "type", "159890a7cacb44a95bef0743064433d763de229c"),
    ("ckb1qyqt8xaupvm8837nv3gtc9x0ekkj64vud3jqfwyw5v", "type", ARGS0),
    ("ckb1qyq5lv479ewscx3ms620sv34pgeuz6zagaaqklhtgg", "type", "4fb2be2e5d0c1a3b8694f832350a33c1685d477a"),
    ("ckb1qjda0cr08m85hc8jlnfp3zer7xulejywt49kt2rr0vthywaa50xw3vumhs9nvu786dj9p0q5elx66t24n3kxgj53qks", "type", ARGS0),
]
REF_CODE_HASH = {"ckb1qyq5lv479ewscx3ms620sv34pgeuz6zagaaqklhtgg": "0x" + ckbaddr.MULTISIG_CODE_HASH.hex()}
REF_REJECT = [
    "ckb1qyqylv479ewscx3ms620sv34pgeuz6zagaaqh0knz7",
    "ckb1qyqylv479ewscx3ms620sv34pgeuz6zagaarxdzvx03",
    "ckb1qyg5lv479ewscx3ms620sv34pgeuz6zagaaqajch0c",
    "ckb1q2da0cr08m85hc8jlnfp3zer7xulejywt49kt2rr0vthywaa50xwsnajhch96rq68wrqn2tmhm",
    "ckb1qzda0cr08m85hc8jlnfp3zer7xulejywt49kt2rr0vthywaa50xwsq20k2lzuhgvrgacv4tmr88",
]


# ---- installing and running CCC ----

NPM_NET = ["--fetch-retries=1", "--fetch-retry-mintimeout=1000", "--fetch-retry-maxtimeout=5000",
           "--fetch-timeout=30000"]


def _registry_reachable():
    try:
        r = subprocess.run(["npm", "ping"] + NPM_NET, capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired:
        return False, "npm ping timed out"
    lines = [ln for ln in (r.stderr + r.stdout).splitlines() if ln.strip()]
    return r.returncode == 0, " / ".join(lines[:3])[:400]


def _installed(target):
    return os.path.exists(os.path.join(target, "node_modules", "@ckb-ccc", "core", "package.json"))


def _skip_unreachable(why):
    pytest.skip("SKIPPED, NOT CHECKED: the npm registry is unreachable, so @ckb-ccc/core "
                f"cannot be installed ({why}); the third-party CKB check did not run")


def _install(target):
    """npm ci into a fresh directory next to target, renamed into place when complete, so an
    interrupted install is never taken for a cached one."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not found: run scripts/deps (it installs nodejs and npm)")
    reachable, why = _registry_reachable()
    if not reachable:
        _skip_unreachable(why)
    tmp = f"{target}.tmp-{os.getpid()}"
    last = ""
    for attempt in range(3):
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        for f in ("package.json", "package-lock.json"):
            shutil.copy(os.path.join(HERE, f), tmp)
        try:
            r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefer-offline"] + NPM_NET,
                               cwd=tmp, capture_output=True, text=True, timeout=600)
            ok, last = r.returncode == 0, (r.stderr + r.stdout)[-2000:]
        except subprocess.TimeoutExpired:
            ok, last = False, "npm ci timed out"
        if ok:
            if not _installed(target):  # an incomplete copy left by hand
                shutil.rmtree(target, ignore_errors=True)
            try:
                os.rename(tmp, target)
            except OSError:  # another run installed it first
                shutil.rmtree(tmp, ignore_errors=True)
            return
        time.sleep(2 * (attempt + 1))
    shutil.rmtree(tmp, ignore_errors=True)
    reachable, why = _registry_reachable()
    if not reachable:
        _skip_unreachable(why)
    pytest.fail("npm ci of tests/thirdparty failed with the registry reachable:\n" + last)


@pytest.fixture(scope="module")
def ccc_dir():
    with open(os.path.join(HERE, "package-lock.json"), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    top = os.environ.get("FL_CCC_CACHE") or os.path.join(fl.REPO, ".state", "ccc")
    os.makedirs(top, exist_ok=True)
    target = os.path.join(top, digest)
    if not _installed(target):
        _install(target)
    with open(os.path.join(target, "node_modules", "@ckb-ccc", "core", "package.json")) as f:
        assert json.load(f)["version"] == "1.12.5"
    return target


def ccc(ccc_dir, checks):
    r = subprocess.run(["node", os.path.join(HERE, "ccc_check.mjs")], input=json.dumps(checks),
                       capture_output=True, text=True, timeout=60 * fl.SLOW,
                       env=dict(os.environ, CCC_MODULES=ccc_dir))
    assert r.returncode == 0, "ccc_check.mjs failed:\n" + r.stderr
    return json.loads(r.stdout)


def inspect(checks):
    r = subprocess.run([fl.binary("ckb-inspect")], input=json.dumps(checks), capture_output=True,
                       text=True, timeout=30 * fl.SLOW)
    assert r.returncode == 0, "ckb-inspect failed:\n" + r.stderr
    return json.loads(r.stdout)


def tx_tool(spec):
    r = subprocess.run([fl.binary("ckb-tx-tool")], input=json.dumps(spec), capture_output=True,
                       text=True, timeout=30 * fl.SLOW)
    assert r.returncode == 0, "ckb-tx-tool failed:\n" + r.stderr
    return json.loads(r.stdout)


# ---- addresses ----

def network_of(address):
    return "mainnet" if address.startswith("ckb") else "testnet"


def compare_addresses(ccc_dir, addresses):
    """C and CCC decode each address alike (same script, or both refuse); returns C's answers."""
    c = inspect({"addresses": [{"address": a, "network": network_of(a)} for a in addresses]})
    j = ccc(ccc_dir, {"addresses": addresses})
    for a, ours, theirs in zip(addresses, c["addresses"], j["addresses"]):
        assert ours["ok"] == theirs["ok"], f"seed {SEED}: {a}: C {ours} vs ccc {theirs}"
        if ours["ok"]:
            assert ours["script"] == theirs["script"], f"seed {SEED}: {a}: C {ours} vs ccc {theirs}"
    return c["addresses"]


def test_reference_addresses_decode_alike(ccc_dir):
    valid = [a for a, _, _ in REF_VALID]
    got = compare_addresses(ccc_dir, valid + REF_REJECT)
    for (a, hash_type, args), ours in zip(REF_VALID, got):
        assert ours["ok"], a
        assert ours["script"] == {"code_hash": REF_CODE_HASH.get(a, SIGHASH),
                                  "hash_type": hash_type, "args": "0x" + args}, a
    assert not any(r["ok"] for r in got[len(valid):])


def test_random_addresses_decode_alike(ccc_dir):
    rng = random.Random(SEED)
    addresses = []
    for i in range(24):
        hrp = rng.choice(["ckb", "ckt"])
        kind = i % 4
        if kind == 0:  # current full format, any hash_type, args of any length
            addresses.append(ckbaddr.encode_full(rng.randbytes(32), rng.choice(list(ckbaddr.HASH_TYPES)),
                                                 rng.randbytes(rng.randrange(0, 65)), hrp))
        elif kind == 1:  # the default lock, as the hub's users paste it
            addresses.append(ckbaddr.encode_full(ckbaddr.SIGHASH_CODE_HASH, "type", rng.randbytes(20), hrp))
        elif kind == 2:  # deprecated short: sighash, multisig, anyone-can-pay
            addresses.append(ckbaddr.encode_short(rng.randrange(3), rng.randbytes(20), hrp))
        else:  # deprecated full
            addresses.append(ckbaddr.encode_deprecated_full(rng.randbytes(32), rng.choice(["data", "type"]),
                                                            rng.randbytes(rng.randrange(0, 41)), hrp))
    got = compare_addresses(ccc_dir, addresses)
    for a, ours in zip(addresses, got):
        # and both agree with the pure-Python decoder
        assert ours["ok"], f"seed {SEED}: C refused {a}: {ours}"
        _, code_hash, hash_type, args = ckbaddr.decode(a)
        assert ours["script"] == {"code_hash": "0x" + code_hash.hex(), "hash_type": hash_type,
                                  "args": "0x" + args.hex()}, f"seed {SEED}: {a}"


# ---- payouts ----

def payout(n, rng, data_on=None):
    """A payout of n outputs (random testnet addresses, 61..1000 CKB) plus change to the wallet,
    from two wallet inputs, signed by ckb-tx-tool at FEE_RATE. Returns (spec, tool answer)."""
    outputs = []
    for i in range(n):
        if i % 3 == 2:
            addr = ckbaddr.encode_short(0, rng.randbytes(20), "ckt")
        elif i % 3 == 1:
            addr = ckbaddr.encode_full(rng.randbytes(32), rng.choice(list(ckbaddr.HASH_TYPES)),
                                       rng.randbytes(rng.randrange(0, 65)), "ckt")
        else:
            addr = ckbaddr.encode_full(ckbaddr.SIGHASH_CODE_HASH, "type", rng.randbytes(20), "ckt")
        out = {"capacity": rng.randrange(200 * SHANNONS, 1000 * SHANNONS), "address": addr}
        if i == data_on:
            out["data"] = "0x" + rng.randbytes(7).hex()
        outputs.append(out)
    outputs.append({"capacity": 0, "lock": WALLET_LOCK})  # change, set by the tool after the fee
    total = sum(o["capacity"] for o in outputs) + 5000 * SHANNONS
    inputs = [{"tx_hash": "0x" + rng.randbytes(32).hex(), "index": hex(rng.randrange(4))}
              for _ in range(2)]
    spec = {"key": DEV_KEY, "network": "testnet", "dep": DEV_DEP, "inputs": inputs,
            "outputs": outputs, "fee_rate": FEE_RATE, "input_capacity": total}
    return spec, tx_tool(spec)


def input_cells(spec):
    total = spec["input_capacity"]
    first = total // 3
    return [{"capacity": hex(first), "lock": WALLET_LOCK},
            {"capacity": hex(total - first), "lock": WALLET_LOCK}]


def ccc_tx_check(tx, spec, key=None):
    item = {"tx": tx, "input_cells": input_cells(spec), "lock": WALLET_LOCK, "fee_rate": FEE_RATE}
    if key:
        item["key"] = key
    return item


@pytest.mark.parametrize("n", [1, 10, 100])
def test_payout_matches_ccc(ccc_dir, n):
    rng = random.Random(SEED * 1000 + n)
    spec, built = payout(n, rng, data_on=3 if n >= 10 else None)
    tx = built["tx"]
    assert len(tx["outputs"]) == n + 1 and len(tx["inputs"]) == 2
    c = inspect({"txs": [tx], "fee_rate": FEE_RATE})["txs"][0]
    j = ccc(ccc_dir, {"txs": [ccc_tx_check(tx, spec, key=DEV_KEY)]})["txs"][0]
    assert "error" not in j, j
    why = f"seed {SEED}, {n} outputs"

    # the hash the tool printed, C's re-read of the JSON, and CCC's
    assert built["hash"] == c["hash"] == j["hash"], why
    # size in block and fee
    assert built["size"] == c["size"] == int(j["size"]), why
    assert built["fee"] == c["fee"] == -(-c["size"] * FEE_RATE // 1000), why
    assert built["fee"] >= int(j["estimate_fee"]), why
    assert int(j["fee"]) == built["fee"], f"{why}: CCC's inputs − outputs is not our fee"
    assert built["fee"] >= c["size"] * FEE_RATE // 1000  # the node's minimum
    # occupied capacity, output by output
    assert c["occupied"] == [int(x) for x in j["occupied"]], why
    for o, occ in zip(tx["outputs"], c["occupied"]):
        assert int(o["capacity"], 16) >= occ, why
    if n >= 10:
        # output 3: the default lock (20-byte args) with 7 bytes of data
        assert c["occupied"][3] == (8 + 33 + 20 + 7) * SHANNONS, why
    # the signature: CCC's message, a key recovered from our lock bytes, that key's default lock
    sig = j["signature"]
    assert sig["ok"], f"{why}: {sig}"
    assert sig["position"] == 0 and sig["verify"], why
    assert sig["recovered_lock"] == WALLET_LOCK, why
    # CCC signing the same transaction with the same key writes the same witness
    assert j["resigned_witness"] == tx["witnesses"][0], why
    assert tx["witnesses"][1:] in ([], ["0x"]), why


def test_tampered_payout_is_caught(ccc_dir):
    """The checks above can fail: one output capacity changed after signing moves the hash away
    from the one the tool printed and breaks the signature; a flipped signature bit too."""
    rng = random.Random(SEED + 7)
    spec, built = payout(10, rng)
    tx = built["tx"]
    flipped = json.loads(json.dumps(tx))
    cap = int(flipped["outputs"][4]["capacity"], 16)
    flipped["outputs"][4]["capacity"] = hex(cap ^ 1)
    forged = json.loads(json.dumps(tx))
    w = bytearray.fromhex(forged["witnesses"][0][2:])
    w[20 + 10] ^= 0x01  # a bit of r
    forged["witnesses"][0] = "0x" + w.hex()
    good, bad, bad_sig = ccc(ccc_dir, {"txs": [ccc_tx_check(t, spec)
                                               for t in (tx, flipped, forged)]})["txs"]
    assert good["hash"] == built["hash"] and good["signature"]["ok"], good

    assert "error" not in bad, bad
    assert bad["hash"] != built["hash"]
    assert bad["hash"] == inspect({"txs": [flipped]})["txs"][0]["hash"]  # C sees the same new tx
    assert not bad["signature"]["ok"]
    assert bad["signature"]["recovered_lock"] != WALLET_LOCK

    assert bad_sig["hash"] == built["hash"]  # witnesses are outside the hash
    assert not bad_sig["signature"]["ok"], bad_sig["signature"]
