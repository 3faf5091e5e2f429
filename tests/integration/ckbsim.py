"""ckb-sim, the CKB node simulator (tests/ckb_sim/), as a test fixture: CkbSim starts the binary
from $FL_BUILD_DIR on a free loopback port and stops it; rpc() speaks the node's positional
JSON-RPC, ctl() the sim_* control methods ("params":[{...}]). build_tx() runs ckb-tx-tool, the
test-only signer, so tests can make valid transactions and then corrupt any field."""

import json
import os
import subprocess
import time

import httpx

import fl

SHANNONS = 100_000_000
SIGHASH_CODE_HASH = "0x9bd7e06f3ecf4be0f2fcd2188b23f1b9fcc88e5d4b65a8637b17723bbda3cce8"


# ckbhash computed in Python with hashlib's own BLAKE2b: an independent check of the sim's.
ckbhash = fl.ckb_hash


class RpcError(Exception):
    def __init__(self, error):
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.code = error.get("code")
        self.message = error.get("message")
        self.data = error.get("data")


class CkbClient:
    """A CKB node (ckb-sim, or any node for the standard methods) driven over JSON-RPC: rpc() with
    the node's positional params, ctl() for the simulator's sim_* controls ("params":[{...}]);
    capacities in shannons. One per thread (it holds one HTTP client)."""

    def __init__(self, url):
        self.url = url
        self.http = httpx.Client(timeout=10 * fl.SLOW)
        self._id = 0

    def raw(self, method, params, timeout=None):
        self._id += 1
        body = {"jsonrpc": "2.0", "id": self._id, "method": method, "params": params}
        kw = {} if timeout is None else {"timeout": timeout}
        return self.http.post(self.url + "/", json=body, **kw).json()

    def rpc(self, method, *params):
        """A node method with positional params; raises RpcError on an error answer."""
        answer = self.raw(method, list(params))
        if "error" in answer:
            raise RpcError(answer["error"])
        return answer["result"]

    def ctl(self, name, obj=None, **kw):
        """A sim_* control method with its params object (obj, or keyword arguments)."""
        answer = self.raw(name, [dict(obj or {}, **kw)])
        if "error" in answer:
            raise RpcError(answer["error"])
        return answer["result"]

    # control helpers
    def fund(self, address=None, ckb=None, shannons=None, lock=None):
        cap = shannons if shannons is not None else int(ckb * SHANNONS)
        args = {"capacity": hex(cap)}
        if address is not None:
            args["address"] = address
        else:
            args["lock"] = lock
        return self.ctl("sim_fund", **args)

    def mine(self, n=1):
        return int(self.ctl("sim_mine", blocks=hex(n))["tip"], 16)

    def reorg(self, depth):
        return self.ctl("sim_reorg", depth=hex(depth))

    def script(self, method, outcome, count=1, error=None):
        args = {"method": method, "outcome": outcome, "count": count}
        if error is not None:
            args["error"] = error
        return self.ctl("sim_script", args)

    def outputs(self, lock_args=None):
        args = {} if lock_args is None else {"lock_args": lock_args}
        return self.ctl("sim_outputs", **args)["outputs"]

    # read with the node's standard methods only
    def tip(self):
        return int(self.rpc("get_tip_block_number"), 16)

    def tx(self, tx_hash):
        return self.rpc("get_transaction", tx_hash)

    def payments(self):
        """Every output of every committed transaction of the canonical chain, cellbases left out,
        walked block by block: {(code_hash, hash_type, args): [(tx_hash, index, capacity)]}."""
        out = {}
        for n in range(1, self.tip() + 1):
            block = self.rpc("get_block_by_number", hex(n))
            for tx in block["transactions"][1:]:
                for i, o in enumerate(tx["outputs"]):
                    lock = o["lock"]
                    key = (lock["code_hash"].lower(), lock["hash_type"], lock["args"].lower())
                    out.setdefault(key, []).append((tx["hash"], i, int(o["capacity"], 16)))
        return out

    def dep_group(self):
        """The sighash dep group as a hub finds it on a dev chain: genesis transactions[1] #0."""
        genesis = self.rpc("get_block_by_number", "0x0")
        return {"tx_hash": genesis["transactions"][1]["hash"], "index": "0x0"}

    def close(self):
        self.http.close()


class CkbSim(fl.Proc, CkbClient):
    """The ckb-sim process on a free loopback port, and a client of it."""

    def __init__(self, tmpdir, network="devnet", block_interval_ms=0, min_fee_rate=None,
                 proposal_blocks=None, port=None):
        self.port = port or fl.free_port()
        argv = [fl.binary("ckb-sim"), "--listen", f"127.0.0.1:{self.port}", "--network", network,
                "--block-interval-ms", str(block_interval_ms)]
        if min_fee_rate is not None:
            argv += ["--min-fee-rate", str(min_fee_rate)]
        if proposal_blocks is not None:
            argv += ["--proposal-blocks", str(proposal_blocks)]
        self.network = network
        fl.Proc.__init__(self, argv, fl.clean_env(),
                         os.path.join(tmpdir, f"ckb-sim-{self.port}-{time.monotonic_ns()}.log"))
        try:
            fl.wait_until(lambda: not self.alive() or self.log_contains("event=sim.listening"), 15,
                          "ckb-sim to listen")
            if not self.alive():
                raise AssertionError("ckb-sim exited at start:\n" + self.log())
        except BaseException:
            self.kill()
            raise
        CkbClient.__init__(self, f"http://127.0.0.1:{self.port}")

    def stop(self, timeout=15):
        self.close()
        return fl.Proc.stop(self, timeout)


def tx_tool(spec):
    """Runs ckb-tx-tool on spec; returns its JSON ({tx, hash, size, fee?} or {lock})."""
    r = subprocess.run([fl.binary("ckb-tx-tool")], input=json.dumps(spec), capture_output=True,
                       text=True, timeout=30 * fl.SLOW)
    if r.returncode != 0:
        raise AssertionError("ckb-tx-tool failed: " + r.stderr)
    return json.loads(r.stdout)


def key_lock(key):
    return tx_tool({"key": key})["lock"]
