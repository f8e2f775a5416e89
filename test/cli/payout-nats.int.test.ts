// `swarmline payout --nats URL --run ID --record` against a real nats-server holding the golden
// scored run and the in-process subtensor node: WeightsSubmitted lands on the validator's chain
// of the run, which still verifies and audits; a second --record appends nothing; a writer that
// came in between makes the record fail whole; on a secured server the validator joins to record.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect } from "effect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readRunLines } from "../../src/actors/audit/read-run.js";
import { recordBasis, recordOnRun } from "../../src/actors/chain/index.js";
import { importLog } from "../../src/actors/eventlog/transfer.js";
import { type Gatekeeper, startGatekeeper } from "../../src/actors/gatekeeper/host.js";
import { cryptoReady, loadHotkey, nodeCrypto, sessionKey } from "../../src/actors/identity/index.js";
import { connectNats, type NatsConnection } from "../../src/actors/nats/connection.js";
import { layerNats, makeNatsEventLog } from "../../src/actors/nats/eventlog.js";
import { nkeyOfEd25519, sessionAuthenticator } from "../../src/actors/nats/nkey.js";
import { authorizationConf, inboxPrefix, type NatsUser } from "../../src/actors/nats/permissions.js";
import { type EmbeddedNats, startEmbeddedNats, withNatsServer } from "../../src/actors/nats/testing.js";
import { auditLines } from "../../src/cli/audit.js";
import { main } from "../../src/cli/main.js";
import { type PayoutOptions, runPayout } from "../../src/cli/payout.js";
import { splitLines } from "../../src/events/jsonl.js";
import { verifyLog } from "../../src/events/verify.js";
import { vocabularyRegistry } from "../../src/events/vocabulary.js";
import { MemorySubtensor } from "../actors/chain/support/provider.js";
import { GOLDEN_NETUID, goldenSubnet, goldenSubnetSpec } from "../actors/chain/support/subnet.js";
import { GOLDEN_SCORED } from "../fixtures/make-golden.js";
import { captureOutput } from "./capture.js";

const RUN = "golden-scored";
/** Stream messages in the golden run. */
const GOLDEN_LAST = 1407;
const swarmline = (...args: string[]) => main(["node", "swarmline", ...args]);

const options = (url: string, over: Partial<PayoutOptions> = {}): PayoutOptions => {
  const dir = mkdtempSync(join(tmpdir(), "swl-payout-"));
  return {
    source: { nats: url, run: RUN, secure: false }, netuid: GOLDEN_NETUID, hotkey: "//Validator", dryRun: false, window: null,
    journal: join(dir, "reveals.json"), paid: join(dir, "paid.json"), reveal: false, record: true, json: true, ...over,
  };
};

/** The last event line of an exported log. */
const lastEvent = (lines: readonly string[]) => (JSON.parse(lines[lines.length - 1] as string) as { seq: number; event: { type: string; actor: string; payload: Record<string, unknown> } });

const importGolden = async (nc: NatsConnection): Promise<void> => {
  await Effect.runPromise(Effect.provide(importLog(splitLines(readFileSync(GOLDEN_SCORED, "utf8"))), layerNats(nc)));
};

/** A node that runs `before` when an extrinsic is submitted: something happening while the payout waits on the chain. */
class NodeWithHook extends MemorySubtensor {
  before: () => Promise<void> = async () => undefined;

  override async subscribe(type: string, method: string, params: unknown[], cb: Parameters<MemorySubtensor["subscribe"]>[3]): Promise<number> {
    if (method === "author_submitAndWatchExtrinsic") await this.before();
    return super.subscribe(type, method, params, cb);
  }
}

describe("swarmline payout --nats --run --record", () => {
  const io = captureOutput();
  let nats: EmbeddedNats;
  beforeAll(async () => {
    await cryptoReady();
    nats = await startEmbeddedNats();
    expect(await swarmline("log", "import", GOLDEN_SCORED, "--nats", nats.url)).toBe(0);
  });
  afterAll(async () => {
    await nats?.stop();
  });

  it("appends WeightsSubmitted on the validator's chain of the run; the export verifies, the run audits, and a second --record appends nothing", async () => {
    const node = await goldenSubnet();
    let out = "";
    expect(await runPayout(options(nats.url), node, (s) => { out += s; })).toBe(0);
    const tx = node.submitted[0];
    expect(JSON.parse(out)).toMatchObject({ submitted: [{ extrinsic: tx?.hash, block: tx?.block }], recorded: { seqs: [GOLDEN_LAST + 1, GOLDEN_LAST + 2] } });

    const file = join(mkdtempSync(join(tmpdir(), "swl-payout-")), "run.jsonl");
    expect(await swarmline("log", "export", "--nats", nats.url, "--run", RUN, "-o", file)).toBe(0);
    const lines = splitLines(readFileSync(file, "utf8")).filter((l) => l.trim() !== "");
    expect(lines).toHaveLength(1 + GOLDEN_LAST + 2);
    const last = lastEvent(lines);
    expect(last).toMatchObject({ seq: GOLDEN_LAST + 2, event: { type: "WeightsSubmitted", actor: loadHotkey("//Validator").address, payload: { extrinsic: tx?.hash, block: tx?.block, netuid: GOLDEN_NETUID } } });
    expect(await swarmline("log", "verify", file)).toBe(0);
    expect(await swarmline("audit", "--nats", nats.url, "--run", RUN)).toBe(0);

    io.out = "";
    out = "";
    expect(await runPayout(options(nats.url, { json: false }), node, (s) => { out += s; })).toBe(0);
    expect(out).toMatch(new RegExp(`already paid and recorded in run ${RUN} on ${nats.url}: set_weights extrinsic ${tx?.hash} in block ${tx?.block}; nothing sent, nothing appended`));
    expect(node.submitted).toHaveLength(1);
    expect(await readRunLines(nats.url, RUN)).toHaveLength(1 + GOLDEN_LAST + 2);
  });

  it("fails with AppendConflict when the validator's chain moved on while it paid: the payout is printed, nothing of its record is written", async () => {
    await withNatsServer(async (server) => {
      const nc = await connectNats(server.url);
      try {
        await importGolden(nc);
        const validator = loadHotkey("//Validator");
        const node = new NodeWithHook([await goldenSubnetSpec()]);
        // Another recorder on the validator's chain (a second payout process) lands first.
        node.before = async () => {
          const lines = await readRunLines(server.url, RUN, nc);
          const payload = { window: 0, netuid: GOLDEN_NETUID, call: "set_weights" as const, extrinsic: `0x${"11".repeat(32)}`, block: 1, blockHash: `0x${"22".repeat(32)}`, uids: [1], values: [65535], versionKey: 0, commitHash: null };
          const proposal = (JSON.parse(lines.find((l) => l.includes('"type":"WeightsProposed"')) as string) as { event: { id: string } }).event.id;
          await Effect.runPromise(recordOnRun(makeNatsEventLog(nc), recordBasis(lines, validator.address), validator, payload, { proposal, at: 0 }));
        };
        let out = "";
        expect(await runPayout(options(server.url), node, (s) => { out += s; })).toBe(1);
        expect(node.submitted).toHaveLength(1);
        expect(JSON.parse(out)).toMatchObject({ submitted: [{ extrinsic: node.submitted[0]?.hash }], recorded: null });
        expect(io.err).toMatch(/paid, but not recorded in run golden-scored .*: AppendConflict: .*\n {2}nothing was appended: .*subject moved on/);
        const lines = await readRunLines(server.url, RUN, nc);
        expect(lines).toHaveLength(1 + GOLDEN_LAST + 2);
        expect(lastEvent(lines).event.payload).toMatchObject({ extrinsic: `0x${"11".repeat(32)}` });
        expect(verifyLog(nodeCrypto, vocabularyRegistry(), lines)).toMatchObject({ ok: true });
      } finally {
        await nc.drain();
      }
    });
  });
});

describe("swarmline payout --secure --nats --run --record", () => {
  const io = captureOutput();
  const adminSigner = sessionKey(new Uint8Array(32).fill(7));
  const adminUser: NatsUser = { nkey: nkeyOfEd25519(adminSigner.publicKeyHex), role: "admin" };
  let nats: EmbeddedNats;
  let admin: NatsConnection;
  let gate: Gatekeeper;
  beforeAll(async () => {
    await cryptoReady();
    nats = await startEmbeddedNats({ authorization: authorizationConf([adminUser], { joiner: true }) });
    admin = await connectNats(nats.url, "admin", { authenticator: sessionAuthenticator(adminSigner), inboxPrefix: inboxPrefix("admin") });
    await importGolden(admin);
    const registry = new Map([[loadHotkey("//Validator").address, new Set(["validator" as const])]]);
    gate = await startGatekeeper({ nc: admin, registry: () => registry, fixed: [adminUser], install: (conf) => nats.setAuthorization(conf) });
  });
  afterAll(async () => {
    await gate?.stop();
    await admin?.drain().catch(() => undefined);
    await nats?.stop();
  });

  it("without --secure cannot read the run, says to add it, and sends nothing", async () => {
    const node = await goldenSubnet();
    expect(await runPayout(options(nats.url), node, () => undefined)).toBe(1);
    expect(io.err).toMatch(/Permissions Violation.*\n  the server is secured .*: add --secure/);
    expect(node.submitted).toHaveLength(0);
  });

  it("joins as the validator, records under the session key the gatekeeper admitted, and the run still audits", async () => {
    const node = await goldenSubnet();
    let out = "";
    expect(await runPayout(options(nats.url, { source: { nats: nats.url, run: RUN, secure: true } }), node, (s) => { out += s; })).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ recorded: { seqs: [GOLDEN_LAST + 1, GOLDEN_LAST + 2] } });
    const lines = await readRunLines(nats.url, RUN, admin);
    const cert = JSON.parse(lines[lines.length - 2] as string) as { event: { type: string; payload: { sessionKey: string } } };
    expect(cert.event.type).toBe("SessionKeyCertified");
    const validator = gate.users().find((u) => u.actor === loadHotkey("//Validator").address);
    expect(validator?.nkey).toBe(nkeyOfEd25519(cert.event.payload.sessionKey));
    expect(lastEvent(lines).event).toMatchObject({ type: "WeightsSubmitted", payload: { extrinsic: node.submitted[0]?.hash } });
    expect(auditLines(lines, true).ok).toBe(true);
  });

  it("audit --secure joins as an auditor (any hotkey, read-only) and audits the run; without --secure it cannot read it", async () => {
    expect(await swarmline("audit", "--nats", nats.url, "--run", RUN)).toBe(1);
    expect(io.err).toMatch(/Permissions Violation|permission/i);
    expect(await swarmline("audit", "--nats", nats.url, "--run", RUN, "--secure", "--hotkey", "//SomeAuditor", "--json")).toBe(0);
    expect(JSON.parse(io.out.trim().split("\n").pop() as string)).toMatchObject({ run: RUN, ok: true });
    expect(gate.users().find((u) => u.actor === loadHotkey("//SomeAuditor").address)?.role).toBe("auditor");
    expect(await swarmline("audit", "--nats", nats.url, "--run", RUN, "--hotkey", "//SomeAuditor")).toBe(2);
    expect(io.err).toMatch(/--hotkey is the auditor's identity on a secured server: add --secure/);
  });
});
