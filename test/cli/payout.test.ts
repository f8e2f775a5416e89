// `swarmline payout` and `swarmline metagraph` against the in-process subtensor node (real
// metadata), on the golden scored log: the dry run prints the extrinsic the chain would get, a
// log that does not audit is never paid, and usage errors exit 2.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Keyring } from "@polkadot/keyring";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { auditLines } from "../../src/cli/audit.js";
import { main } from "../../src/cli/main.js";
import { runMetagraph } from "../../src/cli/metagraph.js";
import { metagraphFromFlags } from "../../src/cli/validate.js";
import { type PayoutOptions, runPayout } from "../../src/cli/payout.js";
import { vocabularyRegistry } from "../../src/events/vocabulary.js";
import { MemorySubtensor } from "../actors/chain/support/provider.js";
import { GOLDEN_NETUID as NETUID, goldenSubnet as goldenNode, goldenSubnetSpec } from "../actors/chain/support/subnet.js";

/** The in-process node with a hook run as an extrinsic is submitted (before the chain takes it). */
class HookedSubtensor extends MemorySubtensor {
  beforeSubmit: (() => void) | undefined;
  override async subscribe(type: string, method: string, params: unknown[], cb: Parameters<MemorySubtensor["subscribe"]>[3]): Promise<number> {
    if (method === "author_submitAndWatchExtrinsic") this.beforeSubmit?.();
    return super.subscribe(type, method, params, cb);
  }
}

const GOLDEN = new URL("../fixtures/golden-scored.jsonl", import.meta.url).pathname;

/** The golden run's last payout, read straight from the file (not through the adapter). */
const lastProposal = (): { window: number; entries: Array<{ uid: number; weight: number }> } => {
  const lines = readFileSync(GOLDEN, "utf8").split("\n").filter((l) => l.includes('"type":"WeightsProposed"'));
  return (JSON.parse(lines[lines.length - 1] as string) as { event: { payload: { window: number; entries: Array<{ uid: number; weight: number }> } } }).event.payload;
};

let keyring: Keyring;
beforeAll(async () => {
  await cryptoWaitReady();
  keyring = new Keyring({ type: "sr25519", ss58Format: 42 });
});

const options = (over: Partial<PayoutOptions> = {}): PayoutOptions => {
  const dir = mkdtempSync(join(tmpdir(), "swl-payout-"));
  return { source: { file: GOLDEN }, netuid: NETUID, hotkey: "//Validator", dryRun: true, window: null, journal: join(dir, "reveals.json"), paid: join(dir, "paid.json"), reveal: false, record: false, json: false, ...over };
};

describe("swarmline payout", () => {
  let err = "";
  beforeEach(() => {
    err = "";
    vi.spyOn(process.stderr, "write").mockImplementation((s: string | Uint8Array) => {
      err += String(s);
      return true;
    });
  });
  afterEach(() => vi.restoreAllMocks());

  it("prints in a dry run the signed set_weights of the golden log's last window, decoded and as hex, and sends nothing", async () => {
    const node = await goldenNode();
    let out = "";
    expect(await runPayout(options(), node, (s) => { out += s; })).toBe(0);
    expect(node.submitted).toHaveLength(0);
    expect(node.calls.filter((c) => c.startsWith("author_"))).toEqual([]);
    const p = lastProposal();
    const hex = /hex (0x[0-9a-f]+)/.exec(out)?.[1] as string;
    const x = node.registry.createType("Extrinsic", hex);
    expect(x.signer.toString()).toBe(keyring.addFromUri("//Validator").address);
    expect(x.method.section).toBe("subtensorModule");
    expect(x.method.meta.name.toString()).toBe("set_weights");
    expect(x.method.toJSON()).toMatchObject({ args: { netuid: NETUID, dests: p.entries.map((e) => e.uid), weights: p.entries.map((e) => e.weight), version_key: 0 } });
    expect(out).toContain(`dry run: window ${p.window}`);
    expect(out).toContain(`subtensorModule.set_weights(netuid: ${NETUID}, dests: ${JSON.stringify(p.entries.map((e) => e.uid))}`);
  });

  it("previews commit_weights where the subnet has commit-reveal on", async () => {
    const node = await goldenNode({ commitRevealEnabled: true });
    let out = "";
    expect(await runPayout(options({ json: true }), node, (s) => { out += s; })).toBe(0);
    const j = JSON.parse(out) as { call: string; args: { commit_hash: string }; salt: number[] };
    expect(j.call).toBe("commit_weights");
    expect(j.args.commit_hash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(j.salt).toHaveLength(8);
    expect(node.submitted).toHaveLength(0);
  });

  it("commits on a commit-reveal subnet, then --reveal sends the journaled reveal once its window opens", async () => {
    const node = await goldenNode({ commitRevealEnabled: true, tempo: 5 });
    const o = options({ dryRun: false });
    expect(await runPayout(o, node, () => undefined)).toBe(0);
    expect(node.submitted.map((x) => x.method)).toEqual(["commit_weights"]);
    expect(await runPayout({ ...o, source: null, reveal: true }, node, () => undefined)).toBe(1);
    expect(err).toMatch(/RevealRefused.*too early|can be revealed from block/);
    node.advance(5);
    let out = "";
    expect(await runPayout({ ...o, source: null, reveal: true }, node, (s) => { out += s; })).toBe(0);
    expect(node.submitted.map((x) => [x.method, x.outcome.ok])).toEqual([["commit_weights", true], ["reveal_weights", true]]);
    expect(node.submitted[1]?.args).toMatchObject({ netuid: NETUID, uids: lastProposal().entries.map((e) => e.uid), values: lastProposal().entries.map((e) => e.weight) });
    expect(out).toContain("reveal_weights of window");
  });

  it("sets the weights and prints a WeightsSubmitted payload the vocabulary accepts, naming the extrinsic the node took", async () => {
    const node = await goldenNode();
    let out = "";
    expect(await runPayout(options({ dryRun: false, json: true }), node, (s) => { out += s; })).toBe(0);
    const [payload] = (JSON.parse(out) as { submitted: unknown[] }).submitted;
    expect(vocabularyRegistry().decode("WeightsSubmitted", 1, payload)._tag).toBe("Success");
    expect(payload).toMatchObject({ call: "set_weights", netuid: NETUID, window: lastProposal().window, extrinsic: node.submitted[0]?.hash, block: node.submitted[0]?.block });
  });

  it("records WeightsSubmitted into the --log file with --record, and the log still audits", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "swl-payout-")), "run.jsonl");
    writeFileSync(file, readFileSync(GOLDEN, "utf8"));
    const node = await goldenNode();
    expect(await runPayout(options({ source: { file }, dryRun: false, record: true }), node, () => undefined)).toBe(0);
    const lines = readFileSync(file, "utf8").split("\n");
    const last = JSON.parse(lines.filter((l) => l.trim() !== "").pop() as string) as { event: { type: string; payload: { extrinsic: string } } };
    expect(last.event).toMatchObject({ type: "WeightsSubmitted", payload: { extrinsic: node.submitted[0]?.hash } });
    expect(auditLines(lines).ok).toBe(true);
  });

  it("pays and records a window once: a second --record of it sends nothing, appends nothing, and says so", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "swl-payout-")), "run.jsonl");
    writeFileSync(file, readFileSync(GOLDEN, "utf8"));
    const node = await goldenNode();
    expect(await runPayout(options({ source: { file }, dryRun: false, record: true }), node, () => undefined)).toBe(0);
    const recorded = readFileSync(file, "utf8");
    let out = "";
    expect(await runPayout(options({ source: { file }, dryRun: false, record: true }), node, (s) => { out += s; })).toBe(0);
    expect(out).toBe(`window ${lastProposal().window} on subnet ${NETUID} is already paid and recorded in ${file}: set_weights extrinsic ${node.submitted[0]?.hash} in block ${node.submitted[0]?.block}; nothing sent, nothing appended\n`);
    expect(node.submitted).toHaveLength(1);
    expect(readFileSync(file, "utf8")).toBe(recorded);
  });

  it("keeps a payment whose record failed, and the next --record records it without paying again", async () => {
    const dir = mkdtempSync(join(tmpdir(), "swl-payout-"));
    const file = join(dir, "run.jsonl");
    const paid = join(dir, "paid.json");
    writeFileSync(file, readFileSync(GOLDEN, "utf8"));
    const golden = readFileSync(file, "utf8");
    const node = new HookedSubtensor([await goldenSubnetSpec()]);
    // The log becomes unwritable between the read and the record (a directory where the file was).
    node.beforeSubmit = () => {
      rmSync(file);
      mkdirSync(file);
    };
    expect(await runPayout(options({ source: { file }, dryRun: false, record: true, paid }), node, () => undefined)).toBe(1);
    expect(node.submitted).toHaveLength(1);
    expect(err).toMatch(/paid, but not recorded in [\s\S]*kept in .*paid\.json: payout --record again records them without paying again/);
    expect(JSON.parse(readFileSync(paid, "utf8"))).toMatchObject([{ payload: { extrinsic: node.submitted[0]?.hash, window: lastProposal().window } }]);
    // The log is back as it was read: the next --record records the kept payment and sends nothing.
    node.beforeSubmit = undefined;
    rmSync(file, { recursive: true });
    writeFileSync(file, golden);
    let out = "";
    expect(await runPayout(options({ source: { file }, dryRun: false, record: true, paid }), node, (s) => { out += s; })).toBe(0);
    expect(out).toMatch(new RegExp(`was paid earlier \\(set_weights extrinsic ${node.submitted[0]?.hash} in block ${node.submitted[0]?.block}, kept in .*\\); recorded now in .* at seq [\\d, ]+; nothing sent`));
    expect(node.submitted).toHaveLength(1);
    const last = JSON.parse(readFileSync(file, "utf8").split("\n").filter((l) => l.trim() !== "").pop() as string) as { event: { type: string; payload: { extrinsic: string } } };
    expect(last.event).toMatchObject({ type: "WeightsSubmitted", payload: { extrinsic: node.submitted[0]?.hash } });
    expect(auditLines(readFileSync(file, "utf8").split("\n")).ok).toBe(true);
    expect(existsSync(paid)).toBe(false); // nothing left to record
  });

  it("refuses with exit 1 to pay a tampered log, and sends nothing", async () => {
    const text = readFileSync(GOLDEN, "utf8");
    const lines = text.split("\n");
    const i = lines.findLastIndex((l) => l.includes('"type":"WeightsProposed"'));
    lines[i] = (lines[i] as string).replace(/"weight":(\d+)/, (_m, w: string) => `"weight":${Number(w) + 1}`);
    const file = join(mkdtempSync(join(tmpdir(), "swl-payout-")), "tampered.jsonl");
    writeFileSync(file, lines.join("\n"));
    const node = await goldenNode();
    expect(await runPayout(options({ source: { file }, dryRun: false }), node, () => undefined)).toBe(1);
    expect(err).toMatch(/refusing to pay: the log does not audit/);
    expect(node.submitted).toHaveLength(0);
  });

  it("refuses with exit 1 a validator that is not registered on the subnet, nothing sent", async () => {
    const node = new MemorySubtensor([{ netuid: NETUID, neurons: [{ hotkey: keyring.addFromUri("//Owner").address, stake: 1n, permit: true }] }]);
    expect(await runPayout(options({ dryRun: false }), node, () => undefined)).toBe(1);
    expect(err).toMatch(/HotkeyNotRegistered.*nothing was sent/);
    expect(node.submitted).toHaveLength(0);
  });

  it("exits 2 on bad usage: no log, a bad netuid, a non-websocket chain, --record with --dry-run, --secure without --nats, a window the validator never proposed", async () => {
    expect(await main(["node", "swarmline", "payout", "--chain", "ws://127.0.0.1:9", "--netuid", "1", "--hotkey", "//Validator"])).toBe(2);
    expect(err).toMatch(/--log FILE/);
    expect(await main(["node", "swarmline", "payout", "--log", GOLDEN, "--chain", "ws://127.0.0.1:9", "--netuid", "x", "--hotkey", "//Validator"])).toBe(2);
    expect(err).toMatch(/--netuid must be an integer/);
    expect(await main(["node", "swarmline", "payout", "--log", GOLDEN, "--chain", "http://x", "--netuid", "1", "--hotkey", "//Validator"])).toBe(2);
    expect(err).toMatch(/ws:\/\//);
    expect(await main(["node", "swarmline", "payout", "--log", GOLDEN, "--chain", "ws://127.0.0.1:9", "--netuid", "1", "--hotkey", "//Validator", "--record", "--dry-run"])).toBe(2);
    expect(err).toMatch(/--record appends to the run's log after a submission/);
    expect(await main(["node", "swarmline", "payout", "--log", GOLDEN, "--chain", "ws://127.0.0.1:9", "--netuid", "1", "--hotkey", "//Validator", "--secure"])).toBe(2);
    expect(err).toMatch(/--secure .* goes with --nats URL --run ID/);
    await expect(runPayout(options({ window: 7 }), await goldenNode())).rejects.toMatchObject({ _tag: "UsageError", message: expect.stringMatching(/no weights for window 7/) });
  });
});

describe("swarmline metagraph", () => {
  it("prints the subnet as JSON (uids, hotkeys, stake in rao, permits, hyperparameters) that validate --metagraph reads", async () => {
    let out = "";
    expect(await runMetagraph(await goldenNode({ minAllowedWeights: 4 }), NETUID, true, (s) => { out += s; })).toBe(0);
    const j = JSON.parse(out) as { neurons: Array<{ uid: number; hotkey: string; stake: string; validatorPermit: boolean }>; hyperparameters: { minAllowedWeights: number } };
    expect(j.neurons).toHaveLength(11);
    expect(j.neurons[10]).toMatchObject({ uid: 10, hotkey: keyring.addFromUri("//Validator").address, stake: "1000000000", validatorPermit: true });
    expect(j.hyperparameters.minAllowedWeights).toBe(4);
    const file = join(mkdtempSync(join(tmpdir(), "swl-metagraph-")), "m.json");
    writeFileSync(file, out);
    expect(metagraphFromFlags({ metagraph: file })).toEqual(j.neurons.map((x) => ({ hotkey: x.hotkey, uid: x.uid })));
  });

  it("exits 1 naming the subnet when the chain has no such netuid", async () => {
    const spy = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    expect(await runMetagraph(await goldenNode(), 77, false, () => undefined)).toBe(1);
    expect(String(spy.mock.calls[0]?.[0])).toMatch(/UnknownNetuid: subnet 77 does not exist/);
    spy.mockRestore();
  });
});
