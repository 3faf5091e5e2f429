"""`fiberlinkd wallet address`: prints the hot wallet's full address for ckb_network and its lock
args, decoded here with the tests' own RFC 0021 codec (ckbaddr.py); refuses a key file that is
unset, missing, unreadable as a key, or readable by others (mode other than 0600), naming the
path and never echoing the key."""

import os

import pytest

import ckbaddr
import fl

# The stock dev chain's first funded key and its blake160 args (reference §2).
DEV_KEY = "d00c06bfd800d27397002dca6fb0993d5ba6399b4238b2f29ee9deb97593d2bc"
DEV_ARGS = "c8328aabcd9b9e8e64fbc566c4385c3bdeb219d7"


def key_file(tmp_path, contents=DEV_KEY + "\n", mode=0o600, name="hot.key"):
    path = tmp_path / name
    path.write_text(contents)
    os.chmod(path, mode)
    return path


def wallet(env=None, args=()):
    return fl.run_cli(list(args) + ["wallet", "address"], env=env)


def assert_no_key(r, key=DEV_KEY):
    assert key not in r.stdout and key not in r.stderr, r
    assert key.upper() not in r.stdout.upper() + r.stderr.upper(), r


@pytest.mark.parametrize("network,hrp", [(None, "ckt"), ("testnet", "ckt"), ("devnet", "ckt"),
                                         ("mainnet", "ckb")])
def test_prints_address_and_args(tmp_path, network, hrp):
    env = {"FIBERLINK_CKB_HOT_WALLET_KEY_FILE": str(key_file(tmp_path))}
    if network:
        env["FIBERLINK_CKB_NETWORK"] = network
    r = wallet(env)
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert len(lines) == 2, r.stdout
    assert lines[1] == "args=0x" + DEV_ARGS
    assert ckbaddr.decode(lines[0]) == (hrp, ckbaddr.SIGHASH_CODE_HASH, "type",
                                        bytes.fromhex(DEV_ARGS))
    assert lines[0] == ckbaddr.encode_full(ckbaddr.SIGHASH_CODE_HASH, "type",
                                           bytes.fromhex(DEV_ARGS), hrp)
    assert_no_key(r)


def test_config_file_and_key_spellings(tmp_path):
    # "0x" prefix, surrounding whitespace; settings from --config
    path = key_file(tmp_path, contents="  0x" + DEV_KEY + "\n\n")
    cfg = tmp_path / "fiberlink.conf"
    cfg.write_text(f"ckb_network = mainnet\nckb_hot_wallet_key_file = {path}\n")
    r = wallet(args=("--config", str(cfg)))
    assert r.returncode == 0, r
    assert r.stdout.splitlines()[0].startswith("ckb1qz")
    assert r.stdout.splitlines()[1] == "args=0x" + DEV_ARGS


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_key_file_mode_refused(tmp_path, mode):
    path = key_file(tmp_path, mode=mode)
    r = wallet({"FIBERLINK_CKB_HOT_WALLET_KEY_FILE": str(path)})
    assert r.returncode == 1, r
    assert r.stdout == "", r
    assert str(path) in r.stderr, r
    assert_no_key(r)


def test_key_file_unset(tmp_path):
    r = wallet()
    assert r.returncode == 1, r
    assert "ckb_hot_wallet_key_file" in r.stderr, r
    assert r.stdout == ""


def test_key_file_missing(tmp_path):
    path = tmp_path / "nope.key"
    r = wallet({"FIBERLINK_CKB_HOT_WALLET_KEY_FILE": str(path)})
    assert r.returncode == 1, r
    assert str(path) in r.stderr, r


@pytest.mark.parametrize("contents", [
    "0" * 64,                       # not a valid secp256k1 secret
    DEV_KEY[:-2],                   # 31 bytes
    DEV_KEY + "00",                 # 33 bytes
    DEV_KEY[:-1] + "g",             # not hex
])
def test_bad_key_refused_without_echo(tmp_path, contents):
    path = key_file(tmp_path, contents=contents)
    r = wallet({"FIBERLINK_CKB_HOT_WALLET_KEY_FILE": str(path)})
    assert r.returncode == 1, r
    assert str(path) in r.stderr, r
    assert r.stdout == ""
    assert_no_key(r, contents)
    assert_no_key(r, DEV_KEY[:40])


def test_usage(tmp_path):
    for args in (["wallet"], ["wallet", "frobnicate"], ["wallet", "address", "extra"]):
        r = fl.run_cli(args)
        assert r.returncode == 2, r
        assert "wallet address" in r.stderr, r
    r = fl.run_cli(["--help"])
    assert "wallet address" in r.stdout


def test_bad_network(tmp_path):
    r = wallet({"FIBERLINK_CKB_HOT_WALLET_KEY_FILE": str(key_file(tmp_path)),
                "FIBERLINK_CKB_NETWORK": "regtest"})
    assert r.returncode == 1, r
    assert "ckb_network" in r.stderr
