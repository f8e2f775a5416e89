// `swarmline audit FILE | --nats URL --run ID`: the auditor. Verifies the log (stream order,
// hash chains, certificates, signatures), re-derives every orchestrator decision, the schedule's
// invariants and every validator's draws, scores, flags and payouts, prints each validator's
// miner table, and names the first fact that does not re-derive. Exit 0 valid, 1 invalid or
// unreachable, 2 bad usage or an unreadable file.
import type { Command } from "commander";
import { Result } from "effect";
import { setAutoFreeze } from "immer";
import { nodeCrypto } from "../actors/identity/node-crypto.js";
import { decodeFactsChecked } from "../events/facts.js";
import { isBlank, parseLogLines } from "../events/jsonl.js";
import { verifyLog, type VerifyResult } from "../events/verify.js";
import { vocabularyRegistry } from "../events/vocabulary.js";
import { auditRun, type AuditReport, type MinerRow, type ValidatorReport } from "../machines/scorer/report.js";
import { setExit } from "./exit.js";
import { AUDITOR_HOTKEY_HELP, checkLogSource, readLogLines, SECURE_READ_HELP } from "./read-log.js";

type Flags = { nats?: string; run?: string; secure?: boolean; hotkey?: string; json?: boolean; fullSignatures?: boolean };

/** Where the first divergence is, in the log's own terms: its line (the header is line 1) and fact index. */
export interface AuditDivergence {
  readonly by: "verify" | "decode" | "orchestrator" | "schedule" | "validator";
  readonly line: number | null;
  readonly index: number | null;
  readonly id: string | null;
  readonly type: string | null;
  readonly actor: string | null;
  readonly reason: string;
}

/** The audit of one log: the verifier's verdict, then (for a verified log) the re-derivation. */
export interface AuditResult {
  readonly ok: boolean;
  readonly events: number;
  readonly verified: boolean;
  readonly actors?: number;
  readonly report?: AuditReport;
  readonly firstDivergence?: AuditDivergence;
}

/** The line number of each event line of `lines` (header skipped), in order. */
const eventLines = (lines: readonly string[]): number[] => {
  const out: number[] = [];
  let header = false;
  lines.forEach((l, i) => {
    if (isBlank(l)) return;
    if (header) out.push(i + 1);
    header = true;
  });
  return out;
};

/** Audits a log given as JSONL lines: verification first; only a verified log is re-derived. */
export const auditLines = (lines: readonly string[], fullSignatures = false): AuditResult => {
  const at = eventLines(lines);
  const v: VerifyResult = verifyLog(nodeCrypto, vocabularyRegistry(), lines, { fullSignatures });
  if (!v.ok) {
    const detail = `${v.reason}: ${v.detail}`;
    return { ok: false, events: at.length, verified: false, firstDivergence: { by: "verify", line: v.index, index: null, id: v.eventId ?? null, type: null, actor: v.actor ?? null, reason: detail } };
  }
  const parsed = parseLogLines(lines);
  const envelopes = Result.isSuccess(parsed) ? parsed.success.entries.map((e) => e.event) : [];
  const lineOf = new Map(envelopes.map((e, i) => [e.id, at[i] ?? null]));
  const typeOf = new Map(envelopes.map((e) => [e.id, e.type]));
  const { facts, refused } = decodeFactsChecked(envelopes);
  const bad = refused[0];
  if (bad !== undefined)
    return { ok: false, events: v.events, actors: v.actors, verified: true, firstDivergence: { by: "decode", line: lineOf.get(bad.id) ?? null, index: null, id: bad.id, type: bad.type, actor: null, reason: bad.reason } };
  // The audit only reads its folds: freezing every state immer produces would cost half the fold.
  setAutoFreeze(false);
  const report = auditRun(facts);
  const d = report.firstDivergence;
  const first: AuditDivergence | undefined = d === null ? undefined : {
    by: d.by, line: d.id === null ? null : lineOf.get(d.id) ?? null, index: d.index, id: d.id, type: d.id === null ? null : typeOf.get(d.id) ?? d.type, actor: d.actor, reason: d.reason,
  };
  return { ok: first === undefined, events: v.events, actors: v.actors, verified: true, report, ...(first === undefined ? {} : { firstDivergence: first }) };
};

const short = (id: string): string => (id.length > 12 ? `${id.slice(0, 8)}…` : id);
const signed = (x: number): string => `${x >= 0 ? "+" : ""}${x.toFixed(4)}`;

/** "spot-check w0,w1; harmful w0": each reason with the windows it was flagged in. */
const flagText = (r: MinerRow): string => {
  const by = new Map<string, number[]>();
  for (const f of r.flags) by.set(f.reason, [...(by.get(f.reason) ?? []), f.window]);
  return by.size === 0 ? "-" : [...by].map(([reason, ws]) => `${reason} w${ws.join(",w")}`).join("; ");
};

/** A validator's miners as a text table. */
export const minerTableText = (v: ValidatorReport): string => {
  const head = ["miner", "stage", "microbatches", "contribution [CI]", "spot checks", "flags", "share", "weight"];
  const rows = Object.entries(v.miners).map(([m, r]) => [
    short(m), r.stage === null ? "-" : String(r.stage), String(r.microbatches),
    r.contribution === null || r.ci === null ? "-" : `${signed(r.contribution)} [${signed(r.ci[0])}, ${signed(r.ci[1])}]`,
    `${r.spotChecks.passed} passed, ${r.spotChecks.failed} failed`, flagText(r), r.share.toFixed(4), String(r.weight),
  ]);
  const width = head.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] as string).length)));
  const right = [false, true, true, false, false, false, true, true];
  const fmt = (r: readonly string[]): string => r.map((x, c) => (right[c] === true ? x.padStart(width[c] as number) : x.padEnd(width[c] as number))).join("  ").trimEnd();
  return [fmt(head), ...rows.map(fmt)].map((l) => `  ${l}`).join("\n");
};

/** The first divergence in one line, e.g. `orchestrator decision r1:o534 (MicrobatchCompleted) at line 2585 (fact 2583): expected ...`. */
export const describeDivergence = (d: AuditDivergence): string => {
  const where = `${d.line === null ? "" : ` at line ${d.line}`}${d.index === null ? "" : ` (fact ${d.index})`}`;
  const what = d.id === null ? "" : ` ${d.id}${d.type === null ? "" : ` (${d.type})`}`;
  switch (d.by) {
    case "verify": return `log${what}${where}${d.actor === null ? "" : ` by ${d.actor}`} does not verify: ${d.reason}`;
    case "decode": return `event${what}${where} does not decode: ${d.reason}`;
    case "orchestrator": return `orchestrator decision${what}${where}: ${d.reason}`;
    case "validator": return `validator ${d.actor ?? "?"} decision${what}${where}: ${d.reason}`;
    case "schedule": return `schedule invariant: ${d.reason}`;
  }
};

/** The human report: what was verified, what re-derived, each validator's table, the verdict. */
export const auditText = (source: string, a: AuditResult, signatures: "all" | "chain-head"): string => {
  const out: string[] = [];
  if (a.verified) out.push(`audit ${source}: ${a.events} events from ${a.actors ?? 0} actors verified (hash chains, certificates, ${signatures} signatures)`);
  const r = a.report;
  if (r !== undefined) {
    const o = r.orchestrator;
    out.push(o.id === null ? "no swarm run in this log (no SwarmRunStarted)" : `orchestrator ${short(o.id)}: ${o.decisions} decisions re-derived, ${o.findings.length} divergent`);
    const s = r.schedule;
    out.push(`schedule: ${s.completed} of ${s.issued} microbatches completed, ${s.reissued} reissued, ${s.open} open, ${s.waiting} waiting; ${s.violations.length === 0 ? "no violations" : `${s.violations.length} violations`}`);
    for (const v of r.validators) {
      out.push(`validator ${short(v.id)}: ${v.decisions} decisions re-derived over ${v.windows} payout windows, ${v.findings.length} divergent`);
      out.push(minerTableText(v));
    }
  }
  out.push(a.ok ? `valid: every decision in ${source} re-derives from the log` : `INVALID: ${source}: ${describeDivergence(a.firstDivergence as AuditDivergence)}`);
  return `${out.join("\n")}\n`;
};

/** The --json object: `{file|run, ok, events, verified, orchestrator, schedule, validators, firstDivergence?}`. */
export const auditJson = (source: { file: string } | { run: string }, a: AuditResult, signatures: "all" | "heads"): object => {
  const r = a.report;
  return {
    ...source, ok: a.ok, events: a.events, verified: a.verified, signatures,
    ...(a.actors === undefined ? {} : { actors: a.actors }),
    ...(r === undefined ? {} : {
      facts: r.facts,
      orchestrator: r.orchestrator,
      schedule: r.schedule,
      validators: r.validators.map((v) => ({ id: v.id, decisions: v.decisions, findings: v.findings, windows: v.windows, miners: v.miners })),
    }),
    ...(a.firstDivergence === undefined ? {} : { firstDivergence: a.firstDivergence }),
  };
};

export const registerAudit = (program: Command): void => {
  program
    .command("audit")
    .description("Audit a run: verify its log (hash chains, certificates, signatures), re-derive every orchestrator and validator decision, print each validator's miner table, and name the first fact that diverges")
    .argument("[file]", "an exported JSONL log (`swarmline log export` writes one)")
    .option("--nats <url>", "audit a run on this NATS server instead of a file (with --run)")
    .option("--run <id>", "the run to audit (with --nats)")
    .option("--secure", SECURE_READ_HELP)
    .option("--hotkey <uri>", AUDITOR_HOTKEY_HELP)
    .option("--json", "print one JSON object: {file|run, ok, events, verified, orchestrator, schedule, validators, firstDivergence?}")
    .option("--full-signatures", "verify every signature present, not only chain heads")
    .action(async (file: string | undefined, f: Flags) => {
      checkLogSource("audit", file, f);
      const lines = await readLogLines("audit", file, f);
      if (lines === undefined) return;
      const full = f.fullSignatures === true;
      const a = auditLines(lines, full);
      const source = file ?? `run ${f.run as string}`;
      if (f.json === true) process.stdout.write(`${JSON.stringify(auditJson(file !== undefined ? { file } : { run: f.run as string }, a, full ? "all" : "heads"))}\n`);
      else process.stdout.write(auditText(source, a, full ? "all" : "chain-head"));
      setExit(a.ok ? 0 : 1);
    });
};
