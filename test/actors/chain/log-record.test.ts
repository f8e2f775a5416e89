// WeightsSubmitted recorded in an exported log or onto a run's EventLog: the log still verifies and
// audits, the fact sits on the validator's chain under a re-certified session, another hotkey cannot
// record one, and an append onto a chain that moved on is refused whole.
import { readFileSync } from "node:fs";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { appendWeightsSubmitted, recordBasis, recordedSubmission } from "../../../src/actors/chain/log-record.js";
import { recordOnRun } from "../../../src/actors/chain/run-record.js";
import { makeMemoryEventLog } from "../../../src/actors/eventlog/memory.js";
import { EventLog, type EventLogShape } from "../../../src/actors/eventlog/service.js";
import { exportLog, importLog } from "../../../src/actors/eventlog/transfer.js";
import { cryptoReady, fixedRng, loadHotkey, nodeCrypto } from "../../../src/actors/identity/index.js";
import { auditLines } from "../../../src/cli/audit.js";
import { splitLines } from "../../../src/events/jsonl.js";
import { subjects } from "../../../src/events/subjects.js";
import { verifyLog } from "../../../src/events/verify.js";
import { vocabularyRegistry } from "../../../src/events/vocabulary.js";

const GOLDEN = new URL("../../fixtures/golden-scored.jsonl", import.meta.url).pathname;

const lastProposal = (lines: readonly string[]): { id: string; window: number } => {
  const l = lines.filter((x) => x.includes('"type":"WeightsProposed"')).pop() as string;
  const e = (JSON.parse(l) as { event: { id: string; payload: { window: number } } }).event;
  return { id: e.id, window: e.payload.window };
};

describe("appendWeightsSubmitted", () => {
  it("appends the fact on the validator's chain so the log still verifies and every decision still re-derives", async () => {
    await cryptoReady();
    const lines = splitLines(readFileSync(GOLDEN, "utf8"));
    const validator = loadHotkey("//Validator");
    const p = lastProposal(lines);
    const payload = { window: p.window, netuid: 9, call: "set_weights" as const, extrinsic: `0x${"ab".repeat(32)}`, block: 1001, blockHash: `0x${"cd".repeat(32)}`, uids: [1, 2], values: [65535, 100], versionKey: 0, commitHash: null };
    const out = appendWeightsSubmitted(lines, validator, payload, { proposal: p.id, at: 1_800_000_000_000, sessionSeed: new Uint8Array(32).fill(9), rng: fixedRng() });
    const added = out.slice(-2).map((l) => (JSON.parse(l) as { event: { type: string; actor: string; cause: string[]; payload: unknown } }).event);
    expect(added.map((e) => [e.type, e.actor])).toEqual([["SessionKeyCertified", validator.address], ["WeightsSubmitted", validator.address]]);
    expect(added[1]?.payload).toEqual(payload);
    expect(added[1]?.cause).toEqual([p.id]);
    const a = auditLines(out, true);
    expect(a.firstDivergence).toBeUndefined();
    expect(a.ok).toBe(true);
    const forged = [...out.slice(0, -1), (out[out.length - 1] as string).replace('"block":1001', '"block":1002')];
    expect(auditLines(forged, true).ok).toBe(false);
  });

  it("refuses to record for a hotkey that has no chain in the log", async () => {
    await cryptoReady();
    const lines = splitLines(readFileSync(GOLDEN, "utf8"));
    const payload = { window: 0, netuid: 9, call: "set_weights" as const, extrinsic: "0x00", block: 1, blockHash: "0x00", uids: [1], values: [65535], versionKey: 0, commitHash: null };
    expect(() => appendWeightsSubmitted(lines, loadHotkey("//Stranger"), payload, { proposal: "x", at: 0 })).toThrow(/no chain in this log/);
  });
});

/** The golden run on an in-memory EventLog, and its export (format 2: the header counts the lines). */
const goldenOnLog = async (): Promise<{ log: EventLogShape; exported: string[] }> => {
  const log = makeMemoryEventLog();
  await Effect.runPromise(Effect.provideService(importLog(splitLines(readFileSync(GOLDEN, "utf8"))), EventLog, log));
  return { log, exported: await exported(log) };
};
const exported = async (log: EventLogShape): Promise<string[]> => {
  const out: string[] = [];
  await Effect.runPromise(Effect.provideService(exportLog("golden-scored", (ls) => { out.push(...ls); }), EventLog, log));
  return out;
};
const fixed = { at: 1_800_000_000_000, sessionSeed: new Uint8Array(32).fill(9) };
const submitted = (window: number, extrinsic = `0x${"ab".repeat(32)}`) => ({ window, netuid: 9, call: "set_weights" as const, extrinsic, block: 1001, blockHash: `0x${"cd".repeat(32)}`, uids: [1, 2], values: [65535, 100], versionKey: 0, commitHash: null });

describe("recording onto an exported log", () => {
  it("moves an export's header to count the two new lines, so the recorded export still verifies", async () => {
    await cryptoReady();
    const { exported: lines } = await goldenOnLog();
    expect(JSON.parse(lines[0] as string)).toMatchObject({ format: 2, last: 1407 });
    const p = lastProposal(lines);
    const out = appendWeightsSubmitted(lines, loadHotkey("//Validator"), submitted(p.window), { proposal: p.id, ...fixed });
    expect(JSON.parse(out[0] as string)).toMatchObject({ format: 2, last: 1409 });
    expect(verifyLog(nodeCrypto, vocabularyRegistry(), out)).toMatchObject({ ok: true, events: 1409 });
  });

  it("reads the validator's chain head, its subject's end past a refused message there, and what it already recorded", async () => {
    await cryptoReady();
    const lines = splitLines(readFileSync(GOLDEN, "utf8"));
    const validator = loadHotkey("//Validator");
    const b = recordBasis(lines, validator.address);
    expect(b).toMatchObject({ run: "golden-scored", actor: validator.address, lastSeq: 1407, counted: false, submitted: [] });
    const own = JSON.parse(lines.filter((l) => l.includes(`"actor":"${validator.address}"`)).pop() as string) as { seq: number; event: { seq: number; hash: string } };
    expect(b).toMatchObject({ subjectSeq: own.seq, head: { seq: own.event.seq, hash: own.event.hash } });
    const foreign = JSON.stringify({ seq: 1408, refused: { subject: subjects.facts("golden-scored", validator.address), reason: "NotJson", detail: "x" } });
    expect(recordBasis([...lines, foreign], validator.address)).toMatchObject({ subjectSeq: 1408, lastSeq: 1408, head: b.head });
    const p = lastProposal(lines);
    const recorded = recordBasis(appendWeightsSubmitted(lines, validator, submitted(p.window), { proposal: p.id, ...fixed }), validator.address);
    expect(recordedSubmission(recorded, p.window, 9)).toEqual(submitted(p.window));
    expect(recordedSubmission(recorded, p.window, 10)).toBeUndefined();
  });
});

describe("recordOnRun", () => {
  it("appends on the run's log exactly the facts the file path appends, and the exported run still audits", async () => {
    await cryptoReady();
    const { log, exported: lines } = await goldenOnLog();
    const validator = loadHotkey("//Validator");
    const p = lastProposal(lines);
    const b = recordBasis(lines, validator.address);
    const seqs = await Effect.runPromise(recordOnRun(log, b, validator, submitted(p.window), { proposal: p.id, ...fixed, rng: fixedRng() }));
    expect(seqs).toEqual([1408, 1409]);
    const after = await exported(log);
    expect(after).toEqual(appendWeightsSubmitted(lines, validator, submitted(p.window), { proposal: p.id, ...fixed, rng: fixedRng() }));
    expect(auditLines(after, true).ok).toBe(true);
  });

  it("fails with AppendConflict and writes nothing when the validator's subject moved on since the log was read", async () => {
    await cryptoReady();
    const { log, exported: lines } = await goldenOnLog();
    const validator = loadHotkey("//Validator");
    const p = lastProposal(lines);
    const stale = recordBasis(lines, validator.address);
    await Effect.runPromise(recordOnRun(log, stale, validator, submitted(p.window), { proposal: p.id, ...fixed }));
    const r = await Effect.runPromise(Effect.result(recordOnRun(log, stale, validator, submitted(p.window, `0x${"ef".repeat(32)}`), { proposal: p.id, ...fixed })));
    expect(r._tag).toBe("Failure");
    expect(r._tag === "Failure" ? r.failure : undefined).toMatchObject({ _tag: "AppendConflict", expected: stale.subjectSeq, actual: 1409 });
    expect(await Effect.runPromise(log.lastSeq("golden-scored"))).toBe(1409);
  });
});
