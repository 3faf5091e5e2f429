// ccc_check.mjs: what CCC (@ckb-ccc/core, the CKB ecosystem's TypeScript SDK) computes for the
// addresses and transactions our C code handles, so tests/integration/test_ckb_thirdparty.py can
// compare the two without trusting either. No CKB node is contacted: the clients point at a closed
// local port and every input cell they need is put in their cache beforehand.
//
// Usage: CCC_MODULES=<dir holding node_modules> node ccc_check.mjs < checks.json
// Input:  {addresses?: ["ckb1…", …],
//          txs?: [{tx: <node JSON tx>, input_cells: [{capacity, lock}] (one per input),
//                  lock: <the signing group's lock>, fee_rate?: n, key?: "0x<secret>"}]}
// Output: {addresses: [{ok, script: {code_hash, hash_type, args}, prefix} | {ok: false, error}],
//          txs: [{hash, size, estimate_fee, fee, occupied: [..], signature: {ok, …},
//                 resigned_witness?}]}
// Amounts are decimal strings (they exceed 2^53). A check that throws is answered with its error
// message; only unreadable input exits non-zero.
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(process.env.CCC_MODULES || here, "package.json"));
const { ccc } = require("@ckb-ccc/core");
const cccA = require("@ckb-ccc/core/advanced");
// The curve library CCC itself signs with (a dependency of @ckb-ccc/core, pinned alongside it).
const { secp256k1 } = require("@noble/curves/secp256k1");

const T = cccA.JsonRpcTransformers;
// Never reached: every lookup must be answered from the cache.
const DEAD_URL = "http://127.0.0.1:9/";
const clients = {
  ckb: new ccc.ClientPublicMainnet({ url: DEAD_URL, fallbacks: [] }),
  ckt: new ccc.ClientPublicTestnet({ url: DEAD_URL, fallbacks: [] }),
};

function msg(e) {
  return e instanceof Error ? e.message : String(e);
}

async function decodeAddress(address) {
  try {
    const a = await ccc.Address.fromString(address, clients);
    return { ok: true, script: T.scriptFrom(a.script), prefix: a.prefix };
  } catch (e) {
    return { ok: false, error: msg(e) };
  }
}

// Recomputes the SIGHASH_ALL message of `lock`'s input group with CCC (the witness lock zeroed as
// a signer does before hashing, then Transaction.getSignHashInfo), recovers the public key from
// the 65-byte r‖s‖recid in that witness, and derives the key's default lock with CCC's signer.
async function checkSignature(tx, lock, client) {
  const out = { ok: false };
  try {
    const position = await tx.findInputIndexByLock(lock, client);
    if (position === undefined) {
      out.error = "no input carries the lock";
      return out;
    }
    out.position = position;
    const wa = tx.getWitnessArgsAt(position);
    const sig = wa?.lock ? ccc.bytesFrom(wa.lock) : undefined;
    if (!sig || sig.length !== 65) {
      out.error = "witness lock is not 65 bytes";
      return out;
    }
    const zeroed = tx.clone();
    const wz = zeroed.getWitnessArgsAt(position);
    wz.lock = ccc.hexFrom(new Uint8Array(65));
    zeroed.setWitnessArgsAt(position, wz);
    const info = await zeroed.getSignHashInfo(lock, client);
    if (!info) {
      out.error = "getSignHashInfo found no group";
      return out;
    }
    out.message = info.message;
    const msgBytes = ccc.bytesFrom(info.message);
    const signature = secp256k1.Signature.fromCompact(sig.slice(0, 64)).addRecoveryBit(sig[64]);
    const pub = signature.recoverPublicKey(msgBytes).toRawBytes(true);
    out.pubkey = ccc.hexFrom(pub);
    out.verify = secp256k1.verify(sig.slice(0, 64), msgBytes, pub);
    const derived = await new ccc.SignerCkbPublicKey(client, pub).getAddressObjSecp256k1();
    out.recovered_lock = T.scriptFrom(derived.script);
    out.ok = out.verify && derived.script.eq(lock);
  } catch (e) {
    out.error = msg(e);
  }
  return out;
}

async function checkTx(item) {
  const res = {};
  try {
    const tx = T.transactionTo(item.tx);
    res.hash = tx.hash();
    res.size = String(tx.toBytes().length + 4);
    res.estimate_fee = String(tx.estimateFee(item.fee_rate ?? 1000));
    res.occupied = tx.outputs.map((o, i) =>
      String(ccc.fixedPointFrom(ccc.CellOutput.from(o, tx.outputsData[i]).occupiedSize +
                                ccc.bytesFrom(tx.outputsData[i] ?? "0x").length)));
    const client = new ccc.ClientPublicTestnet({ url: DEAD_URL, fallbacks: [] });
    const cells = (item.input_cells ?? []).map((c, i) =>
      ccc.Cell.from({
        outPoint: tx.inputs[i].previousOutput,
        cellOutput: { capacity: c.capacity, lock: T.scriptTo(c.lock) },
        outputData: c.data ?? "0x",
      }));
    await client.cache.recordCells(cells);
    if (cells.length === tx.inputs.length) {
      res.fee = String(await tx.getFee(client));
    }
    if (item.lock) {
      res.signature = await checkSignature(tx, T.scriptTo(item.lock), client);
    }
    if (item.key) {
      // CCC signs the same transaction itself (RFC 6979 nonces on both sides, low S): the lock
      // bytes must come out identical to ours.
      const signer = new ccc.SignerCkbPrivateKey(client, item.key);
      const pos = res.signature?.position ?? 0;
      const blank = tx.clone();
      const w = blank.getWitnessArgsAt(pos) ?? ccc.WitnessArgs.from({});
      w.lock = ccc.hexFrom(new Uint8Array(65));
      blank.setWitnessArgsAt(pos, w);
      const signed = await signer.signOnlyTransaction(blank);
      res.resigned_witness = signed.witnesses[pos];
    }
  } catch (e) {
    res.error = msg(e);
  }
  return res;
}

async function main() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  const out = { addresses: [], txs: [] };
  for (const a of input.addresses ?? []) out.addresses.push(await decodeAddress(a));
  for (const t of input.txs ?? []) out.txs.push(await checkTx(t));
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`ccc_check: ${e?.stack ?? e}\n`);
    process.exit(1);
  },
);
