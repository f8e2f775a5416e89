// `swarmline audit`: the golden scored run verifies and re-derives (its noise and lazy-reducer
// miners flagged and paid nothing); a tampered copy fails verification; a lying but correctly
// signed log (an orchestrator or validator that rewrote its own chain) passes `log verify` but
// not the audit, which names the lie; unreadable files and bad flags exit 2.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { nodeCrypto } from "../../src/actors/identity/node-crypto.js";
import { resealChain } from "../../src/actors/identity/signed-log.js";
import { main } from "../../src/cli/main.js";
import type { Envelope } from "../../src/events/envelope.js";
import { formatLogLine, splitLines } from "../../src/events/jsonl.js";
import { verifyLog } from "../../src/events/verify.js";
import { vocabularyRegistry } from "../../src/events/vocabulary.js";
import { GOLDEN_SCORED, goldenScoredKeys, goldenScoredText } from "../fixtures/make-golden.js";
import { captureOutput } from "./capture.js";

const text = readFileSync(GOLDEN_SCORED, "utf8");
const lines = splitLines(text);
const keys = goldenScoredKeys();
const NOISE = keys.noise.hotkey.address;
const LAZY = keys.lazyReducer.hotkey.address;
const ORCHESTRATOR = keys.orchestrator.hotkey.address;
const VALIDATOR = keys.validator.hotkey.address;

const dir = mkdtempSync(join(tmpdir(), "swl-audit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const write = (name: string, ls: readonly string[]): string => {
  const path = join(dir, name);
  writeFileSync(path, ls.join("\n"));
  return path;
};

/** The golden log's envelopes, and the log written back from (possibly edited) envelopes. */
const envelopes = (): Envelope[] => lines.slice(1).filter((l) => l.trim() !== "").map((l) => (JSON.parse(l) as { event: Envelope }).event);
const asLines = (es: readonly Envelope[]): string[] => [lines[0] as string, ...es.map((e, i) => formatLogLine(i + 1, e))];
const verifies = (ls: readonly string[]) => verifyLog(nodeCrypto, vocabularyRegistry(), ls);

interface MinerJson { stage: number; microbatches: number; contribution: number; ci: [number, number]; spotChecks: { passed: number; failed: number }; flags: { reason: string }[]; share: number; weight: number }
interface AuditJson {
  ok: boolean; events: number; verified: boolean;
  orchestrator: { decisions: number; findings: unknown[] };
  schedule: { issued: number; completed: number; violations: string[] };
  validators: { id: string; windows: number; findings: unknown[]; miners: Record<string, MinerJson> }[];
  firstDivergence?: { by: string; line: number | null; index: number | null; id: string | null; type: string | null; reason: string };
}

describe("swarmline audit", () => {
  const io = captureOutput();

  const audit = (...args: string[]): Promise<number> => main(["node", "swarmline", "audit", ...args]);

  it("the golden-scored fixture is exactly what make-golden.ts produces (the script is deterministic)", () => {
    expect(goldenScoredText()).toBe(text);
  });

  it("accepts the golden scored run: verified, every decision re-derived, the noise and lazy-reducer miners flagged and paid nothing", async () => {
    expect(await audit(GOLDEN_SCORED, "--json")).toBe(0);
    const r = JSON.parse(io.out) as AuditJson;
    expect(r).toMatchObject({ ok: true, verified: true, events: lines.length - 2 });
    expect(r.firstDivergence).toBeUndefined();
    expect(r.orchestrator.findings).toEqual([]);
    expect(r.orchestrator.decisions).toBeGreaterThan(100);
    expect(r.schedule).toMatchObject({ issued: 60, completed: 60, violations: [] });
    expect(r.validators.map((v) => v.id)).toEqual([VALIDATOR]);
    const v = r.validators[0] as AuditJson["validators"][number];
    expect(v.findings).toEqual([]);
    expect(v.windows).toBe(2);
    expect(Object.keys(v.miners).sort()).toEqual(keys.miners.map((m) => m.hotkey.address).sort());
    for (const bad of [NOISE, LAZY]) {
      expect(v.miners[bad]?.flags.length, bad).toBeGreaterThan(0);
      expect(v.miners[bad]?.share).toBeLessThanOrEqual(0.01);
      expect(v.miners[bad]?.weight).toBe(0);
    }
    const honest = Object.entries(v.miners).filter(([m]) => m !== NOISE && m !== LAZY);
    for (const [m, row] of honest) {
      expect(row.flags, m).toEqual([]);
      expect(row.share, m).toBeGreaterThan(0.05);
      expect(row.microbatches, m).toBeGreaterThan(0);
      expect(row.ci[0], m).toBeLessThanOrEqual(row.contribution);
      expect(row.ci[1], m).toBeGreaterThanOrEqual(row.contribution);
    }
    const shares = Object.values(v.miners).reduce((t, row) => t + row.share, 0);
    expect(shares).toBeCloseTo(1, 9);
    // Each completed microbatch went through one miner per stage.
    expect(Object.values(v.miners).reduce((t, row) => t + row.microbatches, 0)).toBe(3 * 60);
  });

  it("prints one table per validator, a row per miner with its flags, and the verdict", async () => {
    expect(await audit(GOLDEN_SCORED)).toBe(0);
    expect(io.out).toMatch(/^audit .*golden-scored\.jsonl: \d+ events from 11 actors verified/);
    expect(io.out).toMatch(/orchestrator 5C81AQns…: \d+ decisions re-derived, 0 divergent/);
    expect(io.out).toMatch(/schedule: 60 of 60 microbatches completed/);
    expect(io.out).toMatch(/validator 5CzRdZLn…: \d+ decisions re-derived over 2 payout windows, 0 divergent/);
    expect(io.out).toMatch(/miner\s+stage\s+microbatches\s+contribution \[CI\]\s+spot checks\s+flags\s+share\s+weight/);
    const row = (m: string) => io.out.split("\n").find((l) => l.trim().startsWith(m.slice(0, 8))) ?? "";
    expect(row(NOISE)).toMatch(/(harmful|outlier|spot-check) w\d/);
    expect(row(NOISE)).toMatch(/0\.0000\s+0$/);
    expect(row(LAZY)).toMatch(/(wrong-reduction|spot-check) w\d/);
    expect(io.out.trim().split("\n").at(-1)).toMatch(/^valid: every decision in .* re-derives from the log$/);
  });

  it("rejects a tampered copy (one payload byte changed, not re-signed), naming the event (exit 1)", async () => {
    const at = lines.findIndex((l) => l.includes('"type":"MicrobatchCompleted"'));
    const tampered = lines.map((l, i) => (i === at ? l.replace(/"loss":(\d)/, (_, d: string) => `"loss":${(Number(d) + 1) % 10}`) : l));
    expect(tampered[at]).not.toBe(lines[at]);
    const file = write("tampered.jsonl", tampered);
    const id = (JSON.parse(lines[at] as string) as { event: Envelope }).event.id;
    expect(await audit(file)).toBe(1);
    expect(io.out).toContain(`INVALID: ${file}: log ${id} at line ${at + 1}`);
    expect(io.out).toContain("BadHash");
    io.out = "";
    expect(await audit(file, "--json")).toBe(1);
    expect(JSON.parse(io.out)).toMatchObject({ ok: false, verified: false, firstDivergence: { by: "verify", line: at + 1, id } });
  });

  it("names a MicrobatchCompleted whose pathway the orchestrator rewrote and re-signed (the log still verifies)", async () => {
    const es = envelopes();
    const i = es.findIndex((e, k) => k > 300 && e.type === "MicrobatchCompleted" && e.actor === ORCHESTRATOR);
    const e = es[i] as Envelope<{ pathway: string[] }>;
    const other = e.payload.pathway[1] === LAZY ? NOISE : LAZY;
    es[i] = { ...e, payload: { ...e.payload, pathway: [e.payload.pathway[0] as string, other, ...e.payload.pathway.slice(2)] } };
    const lying = asLines(resealChain(es, ORCHESTRATOR, keys.orchestrator.session));
    expect(verifies(lying)).toMatchObject({ ok: true });
    const file = write("lying-orchestrator.jsonl", lying);
    expect(await audit(file, "--json")).toBe(1);
    const r = JSON.parse(io.out) as AuditJson;
    expect(r).toMatchObject({ ok: false, verified: true });
    expect(r.firstDivergence).toMatchObject({ by: "orchestrator", id: e.id, type: "MicrobatchCompleted", line: i + 2 });
    expect(r.firstDivergence?.reason).toMatch(/^expected MicrobatchCompleted /);
    io.out = "";
    expect(await audit(file)).toBe(1);
    expect(io.out).toMatch(new RegExp(`INVALID: .*: orchestrator decision ${e.id} \\(MicrobatchCompleted\\) at line ${i + 2} \\(fact \\d+\\): expected MicrobatchCompleted`));
  });

  it("names a WeightsProposed in which the validator raised a flagged miner's share and re-signed (the log still verifies)", async () => {
    const es = envelopes();
    const i = es.findIndex((e) => e.type === "WeightsProposed" && e.actor === VALIDATOR);
    type Entry = { hotkey: string; uid: number; share: number; weight: number };
    const e = es[i] as Envelope<{ window: number; entries: Entry[] }>;
    const entries = e.payload.entries.map((x) => (x.hotkey === NOISE ? { ...x, share: 0.25, weight: 65535 } : { ...x, share: x.share * 0.75 }));
    expect(entries.some((x) => x.hotkey === NOISE)).toBe(true);
    es[i] = { ...e, payload: { ...e.payload, entries } };
    const lying = asLines(resealChain(es, VALIDATOR, keys.validator.session));
    expect(verifies(lying)).toMatchObject({ ok: true });
    const file = write("lying-validator.jsonl", lying);
    expect(await audit(file, "--json")).toBe(1);
    const r = JSON.parse(io.out) as AuditJson;
    expect(r.orchestrator.findings).toEqual([]);
    expect(r.firstDivergence).toMatchObject({ by: "validator", id: e.id, type: "WeightsProposed", line: i + 2 });
    expect(r.firstDivergence?.reason).toMatch(/^expected WeightsProposed /);
    io.out = "";
    expect(await audit(file)).toBe(1);
    expect(io.out).toContain(`INVALID: ${file}: validator ${VALIDATOR} decision ${e.id} (WeightsProposed) at line ${i + 2}`);
  });

  it("exits 2 for a file it cannot read, saying how to get one", async () => {
    expect(await audit(join(dir, "absent.jsonl"))).toBe(2);
    expect(io.err).toMatch(/cannot read .*absent\.jsonl.*check the FILE path/);
  });

  it.each([
    ["no log at all", [], /needs a log: FILE .* or --nats URL --run ID/],
    ["both FILE and --nats", [GOLDEN_SCORED, "--nats", "nats://127.0.0.1:4222", "--run", "r1"], /either FILE .* or --nats URL --run ID, not both/],
    ["--nats without --run", ["--nats", "nats://127.0.0.1:4222"], /--nats needs --run ID/],
    ["--run without --nats", ["--run", "r1"], /--run needs --nats URL/],
    ["an unknown flag", [GOLDEN_SCORED, "--frobnicate"], /unknown option '--frobnicate'/],
  ])("exits 2 for %s, naming the fix", async (_, args, message) => {
    expect(await audit(...args)).toBe(2);
    expect(io.err).toMatch(message);
  });

  it("exits 1 when the NATS server cannot be reached, saying how to start one", async () => {
    expect(await audit("--nats", "nats://127.0.0.1:1", "--run", "r1")).toBe(1);
    expect(io.err).toMatch(/swarmline audit: .*cannot connect to nats:\/\/127\.0\.0\.1:1[\s\S]*swarmline nats/);
  });

  it("prints its usage with --help (exit 0)", async () => {
    expect(await audit("--help")).toBe(0);
    expect(io.out).toMatch(/Usage: swarmline audit \[options\] \[file\]/);
    expect(io.out).toContain("--nats <url>");
    expect(io.out).toContain("--json");
  });
});
