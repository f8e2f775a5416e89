// Anchored heads on chain through ApiPromise on the in-process node: set_commitment is decoded with
// the real metadata and applied as pallet_commitments does (registered hotkeys only, one commitment
// per rate limit, the last one kept), and what the chain holds is read back as a verifier would.
import type { ApiPromise } from "@polkadot/api";
import { afterEach, describe, expect, it } from "vitest";
import { anchorCommitment, checkAnchorOnChain, commitAnchor, readAnchorCommitment, startChainAnchors } from "../../../src/actors/chain/anchor.js";
import { connectChain } from "../../../src/actors/chain/connect.js";
import { signAndInclude } from "../../../src/actors/chain/dispatch.js";
import { CommitmentRefused, HotkeyNotRegistered } from "../../../src/actors/chain/errors.js";
import { hotkeyPair } from "../../../src/actors/chain/keys.js";
import { fixedRng, loadHotkey } from "../../../src/actors/identity/index.js";
import { nodeCrypto } from "../../../src/actors/identity/node-crypto.js";
import { anchorMessage, type LogAnchor, makeAnchor } from "../../../src/events/head.js";
import { NETUID, testSubnet } from "./support/subnet.js";

let api: ApiPromise | undefined;
afterEach(async () => {
  await api?.disconnect();
  api = undefined;
});

/** An anchor of a run's heads, signed by the orchestrator `uri` (a hotkey of src/actors/identity). */
const anchorBy = (uri: string, completed: number, reason: LogAnchor["reason"] = "window"): LogAnchor => {
  const hotkey = loadHotkey(uri);
  const heads = [{ actor: hotkey.address, seq: completed + 2, hash: nodeCrypto.sha256Hex(`o:${completed}`) }, { actor: "miner-a", seq: completed, hash: nodeCrypto.sha256Hex(`m:${completed}`) }];
  return makeAnchor(nodeCrypto, { run: "run-anchor", orchestrator: hotkey.address, reason, completed, heads }, (m) => hotkey.sign(m, fixedRng()));
};

/** The pallet's rate limit as the metadata states it (100 blocks on spec 219). */
const RATE_LIMIT = 100;

describe("anchored heads on chain", () => {
  it("commits the sha256 of the anchor's signed message, 32 bytes in a Sha256 field, and reads it back", async () => {
    const { node, validator } = await testSubnet();
    api = await connectChain(node);
    const a = anchorBy("//Validator", 8);
    const c = await commitAnchor(api, validator, NETUID, a);
    expect(c.value).toBe(`0x${nodeCrypto.sha256Hex(anchorMessage(a))}`);
    expect(c.value).toMatch(/^0x[0-9a-f]{64}$/);
    expect(node.submitted).toHaveLength(1);
    expect(node.submitted[0]).toMatchObject({
      signer: validator.address, section: "commitments", method: "set_commitment", block: c.block, outcome: { ok: true, event: { name: "Commitment", args: [NETUID, validator.address] } },
      args: { netuid: NETUID, info: { fields: [{ sha256: c.value }] } },
    });
    expect(node.commitments.of.get(NETUID)?.get(validator.address)).toMatchObject({ deposit: 0n, block: c.block });
    expect(await readAnchorCommitment(api, NETUID, validator.address)).toEqual({ value: anchorCommitment(a), block: c.block });
    expect(await checkAnchorOnChain(api, NETUID, [a])).toEqual({ ok: true, orchestrator: validator.address, netuid: NETUID, value: c.value, block: c.block });
  });

  it("binds every part of the signed message: another reason, count or digest commits to another value", () => {
    const a = anchorBy("//Validator", 8);
    const values = [a, { ...a, reason: "completed" as const }, { ...a, completed: 9 }, { ...a, events: a.events + 1 }, { ...a, digest: nodeCrypto.sha256Hex("x") }, { ...a, run: "run-other" }].map(anchorCommitment);
    expect(new Set(values).size).toBe(values.length);
  });

  it("reads nothing for a hotkey that committed nothing, and the check names it", async () => {
    const { node, validator } = await testSubnet();
    api = await connectChain(node);
    expect(await readAnchorCommitment(api, NETUID, validator.address)).toBeUndefined();
    const check = await checkAnchorOnChain(api, NETUID, [anchorBy("//Validator", 8)]);
    expect(check).toMatchObject({ ok: false, reason: "NotOnChain", orchestrator: validator.address, netuid: NETUID });
  });

  it("maps the chain's refusal of an unregistered hotkey (AccountNotAllowedCommit) to HotkeyNotRegistered, and stores nothing", async () => {
    const { node } = await testSubnet();
    api = await connectChain(node);
    const stranger = await hotkeyPair("//Stranger");
    const err = await commitAnchor(api, stranger, NETUID, anchorBy("//Stranger", 8)).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(HotkeyNotRegistered);
    expect(err).toMatchObject({ hotkey: stranger.address, netuid: NETUID, sent: true, message: expect.stringContaining("AccountNotAllowedCommit") });
    expect(node.submitted.map((x) => x.outcome)).toEqual([{ ok: false, error: "AccountNotAllowedCommit" }]);
    expect(node.commitments.of.size).toBe(0);
    expect(await readAnchorCommitment(api, NETUID, stranger.address)).toBeUndefined();
  });

  it("refuses before sending an anchor signed by a hotkey that is not its orchestrator", async () => {
    const { node, validator } = await testSubnet();
    api = await connectChain(node);
    await expect(commitAnchor(api, validator, NETUID, anchorBy("//Miner1", 8))).rejects.toMatchObject({ _tag: "CommitmentRefused", reason: "wrong-signer", sent: false });
    expect(node.submitted).toHaveLength(0);
  });

  it("refuses before sending a second commit within the pallet's rate limit, and the chain refuses one that was sent", async () => {
    const { node, validator } = await testSubnet();
    api = await connectChain(node);
    const first = await commitAnchor(api, validator, NETUID, anchorBy("//Validator", 8));
    expect(node.commitmentLimits.rateLimit).toBe(RATE_LIMIT);
    const err = await commitAnchor(api, validator, NETUID, anchorBy("//Validator", 16)).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(CommitmentRefused);
    expect(err).toMatchObject({ reason: "rate-limited", sent: false, message: expect.stringContaining(`block ${first.block + RATE_LIMIT}`) });
    expect(node.submitted).toHaveLength(1);
    // Sent anyway (another client, or a check gone stale): the pallet's own refusal, typed the same.
    const tx = api.tx["commitments"]?.["setCommitment"]?.(NETUID, { fields: [{ Sha256: anchorCommitment(anchorBy("//Validator", 16)) }] });
    if (tx === undefined) throw new Error("no Commitments.set_commitment in the metadata");
    const sent = await signAndInclude(api, tx, validator, { netuid: NETUID, hotkey: validator.address }).then(() => undefined, (e: unknown) => e);
    expect(sent).toBeInstanceOf(CommitmentRefused);
    expect(sent).toMatchObject({ reason: "rate-limited", sent: true, message: expect.stringContaining("CommitmentSetRateLimitExceeded") });
    expect(await readAnchorCommitment(api, NETUID, validator.address)).toEqual({ value: first.value, block: first.block });
  });

  it("replaces the first anchor with a second one once the rate limit has passed, and the check then wants the last", async () => {
    const { node, validator } = await testSubnet();
    api = await connectChain(node);
    const a1 = anchorBy("//Validator", 8);
    const a2 = anchorBy("//Validator", 16, "completed");
    const c1 = await commitAnchor(api, validator, NETUID, a1);
    // The head file at that point holds a1; a file that goes on past the last commit is not vouched for.
    expect(await checkAnchorOnChain(api, NETUID, [a1, a2])).toMatchObject({ ok: false, reason: "EarlierAnchor", detail: expect.stringContaining("anchor 1 of 2") });
    node.advance(RATE_LIMIT - 1);
    const c2 = await commitAnchor(api, validator, NETUID, a2);
    expect(c2.block).toBe(c1.block + RATE_LIMIT);
    expect(await readAnchorCommitment(api, NETUID, validator.address)).toEqual({ value: anchorCommitment(a2), block: c2.block });
    expect(node.commitments.of.get(NETUID)?.size).toBe(1);
    expect(await checkAnchorOnChain(api, NETUID, [a1, a2])).toMatchObject({ ok: true, value: c2.value, block: c2.block });
    // A head file cut before its last anchor, or an anchor the chain never saw.
    expect(await checkAnchorOnChain(api, NETUID, [a1])).toMatchObject({ ok: false, reason: "Mismatch", orchestrator: validator.address });
    expect(await checkAnchorOnChain(api, NETUID, [a1, a2, anchorBy("//Validator", 24)])).toMatchObject({ ok: false, reason: "EarlierAnchor", detail: expect.stringContaining("anchor 2 of 3") });
  });

  it("an orchestrator's anchors: the first is committed at once, later ones wait for the rate limit (the newest wins), and final() commits the last", async () => {
    const { node, validator } = await testSubnet();
    api = await connectChain(node);
    const errors: unknown[] = [];
    const anchors = startChainAnchors(api, validator, NETUID, (e) => errors.push(e));
    const [a1, a2, a3] = [anchorBy("//Validator", 8), anchorBy("//Validator", 16), anchorBy("//Validator", 24, "completed")] as [LogAnchor, LogAnchor, LogAnchor];
    await anchors.onAnchor(a1);
    await anchors.onAnchor(a2);
    await anchors.onAnchor(a3);
    expect((await readAnchorCommitment(api, NETUID, validator.address))?.value).toBe(anchorCommitment(a1));
    const waits: string[] = [];
    const done = anchors.final({ pollMs: 20, maxWaitMs: 10_000, onWait: (m) => waits.push(m) });
    await new Promise((r) => setTimeout(r, 60));
    node.advance(RATE_LIMIT);
    const last = await done;
    expect(last?.value).toBe(anchorCommitment(a3));
    expect(waits).toHaveLength(1);
    expect(node.submitted.map((x) => x.args["info"])).toEqual([{ fields: [{ sha256: anchorCommitment(a1) }] }, { fields: [{ sha256: anchorCommitment(a3) }] }]);
    expect(await checkAnchorOnChain(api, NETUID, [a1, a2, a3])).toMatchObject({ ok: true });
    expect(errors).toEqual([]);
  });
});
