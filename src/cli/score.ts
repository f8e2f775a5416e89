// `swarmline score --pathways FILE.jsonl`: CLASP contributions of the miners from logged pathway
// losses, one {"pathway": [miner of stage 0, ...], "loss": x, "step": n} per line; a table on
// stdout, or {"miners": {...}} with --json OUT. Bad flags and malformed lines exit 2.
import { readFileSync, writeFileSync } from "node:fs";
import type { Command } from "commander";
import { clasp, CLASP_DEFAULTS, type ClaspOptions, type MinerScore, type PathwaySample } from "../machines/scorer/clasp.js";
import { UsageError } from "./run-settings.js";

type Flags = { pathways: string; json?: string; seed: string; bootstrap: string; delta: string; confidence: string; minSamples: string };

const shown = (v: unknown): string => (v === undefined ? "nothing" : JSON.stringify(v));

/** One line of a pathways file as a sample, or the reason it is not one. */
const sampleOf = (v: unknown): PathwaySample | string => {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return `expected an object {"pathway": [...], "loss": x, "step": n}, got ${shown(v)}`;
  const { pathway, loss, step } = v as Record<string, unknown>;
  if (!Array.isArray(pathway) || pathway.length === 0) return `"pathway" must be a non-empty array of miner ids, got ${shown(pathway)}`;
  const bad = pathway.findIndex((m) => typeof m !== "string" || m === "");
  if (bad >= 0) return `"pathway"[${bad}] must be a non-empty string (a miner id), got ${shown(pathway[bad])}`;
  if (typeof loss !== "number") return `"loss" must be a number, got ${shown(loss)}`;
  if (typeof step !== "number" || !Number.isInteger(step) || step < 0) return `"step" must be an integer >= 0, got ${shown(step)}`;
  return { pathway: pathway as string[], loss, step };
};

/**
 * Parses a pathways file (JSONL; blank lines ignored). Throws a UsageError naming the first bad
 * line: not JSON, a missing or ill-typed field, or a pathway whose length differs from the first line's.
 */
export const parsePathways = (text: string, file: string): PathwaySample[] => {
  const out: PathwaySample[] = [];
  let first: { line: number; stages: number } | undefined;
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "") return;
    const at = `${file} line ${i + 1}`;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new UsageError({ message: `${at}: not JSON (${e instanceof Error ? e.message : String(e)})` });
    }
    const s = sampleOf(v);
    if (typeof s === "string") throw new UsageError({ message: `${at}: ${s}` });
    if (first === undefined) first = { line: i + 1, stages: s.pathway.length };
    else if (s.pathway.length !== first.stages)
      throw new UsageError({ message: `${at}: the pathway has ${s.pathway.length} stages, line ${first.line} has ${first.stages}` });
    out.push(s);
  });
  return out;
};

const number = (name: string, v: string, ok: (x: number) => boolean, what: string): number => {
  const x = v.trim() === "" ? Number.NaN : Number(v);
  if (!ok(x)) throw new UsageError({ message: `--${name} must be ${what}, got "${v}"` });
  return x;
};

/** ClaspOptions from the flags, each checked (UsageError names the flag). */
export const claspOptionsFromFlags = (f: Omit<Flags, "pathways" | "json">): ClaspOptions => ({
  seed: f.seed,
  bootstrap: number("bootstrap", f.bootstrap, (x) => Number.isInteger(x) && x >= 0, "an integer >= 0"),
  delta: number("delta", f.delta, (x) => Number.isFinite(x) && x >= 0, "a number >= 0"),
  confidence: number("confidence", f.confidence, (x) => x > 0 && x < 1, "in (0, 1)"),
  minSamples: number("min-samples", f.minSamples, (x) => Number.isInteger(x) && x >= 1, "an integer >= 1"),
});

const signed = (x: number): string => `${x >= 0 ? "+" : ""}${x.toFixed(4)}`;

/** The scores as a table, by stage then miner: samples, contribution, interval, FLAGGED. */
export const scoreTable = (miners: Readonly<Record<string, MinerScore>>, confidence: number): string => {
  const rows = Object.entries(miners)
    .sort(([a, x], [b, y]) => x.stage - y.stage || (a < b ? -1 : a > b ? 1 : 0))
    .map(([m, s]) => [String(s.stage), m, String(s.samples), signed(s.contribution), `[${signed(s.ci[0])}, ${signed(s.ci[1])}]`, s.flagged ? "FLAGGED" : ""]);
  const head = ["stage", "miner", "samples", "contribution", `${Math.round(confidence * 1000) / 10}% CI`, ""];
  const width = head.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] as string).length)));
  const right = [true, false, true, true, false, false];
  const fmt = (r: readonly string[]): string =>
    r.map((x, c) => (right[c] === true ? x.padStart(width[c] as number) : x.padEnd(width[c] as number))).join("  ").trimEnd();
  return [fmt(head), ...rows.map(fmt)].join("\n");
};

export const registerScore = (program: Command): void => {
  program
    .command("score")
    .description("Score miners with CLASP from logged pathway losses (JSONL: {\"pathway\": [miner of stage 0, ...], \"loss\": x, \"step\": n} per line)")
    .requiredOption("--pathways <file>", "the pathway losses, one JSON object per line")
    .option("--json <file>", "write {\"miners\": {id: {stage, contribution, ci, samples, flagged}}} to this file instead of printing a table")
    .option("--seed <s>", "seed of the bootstrap", "score")
    .option("--bootstrap <n>", "bootstrap replicates", String(CLASP_DEFAULTS.bootstrap))
    .option("--delta <x>", "harm margin in loss units: flag a miner whose interval lies below -x", String(CLASP_DEFAULTS.delta))
    .option("--confidence <x>", "two-sided confidence level of the intervals", String(CLASP_DEFAULTS.confidence))
    .option("--min-samples <n>", "samples a miner needs before it can be flagged", String(CLASP_DEFAULTS.minSamples))
    .action((f: Flags) => {
      const options = claspOptionsFromFlags(f);
      let text: string;
      try {
        text = readFileSync(f.pathways, "utf8");
      } catch (e) {
        throw new UsageError({ message: `cannot read ${f.pathways}: ${e instanceof Error ? e.message : String(e)} (check the --pathways path)` });
      }
      const samples = parsePathways(text, f.pathways);
      const miners = clasp(samples, options);
      const flagged = Object.values(miners).filter((s) => s.flagged).length;
      if (f.json === undefined) {
        process.stdout.write(`${scoreTable(miners, options.confidence ?? CLASP_DEFAULTS.confidence)}\n`);
        process.stdout.write(`${Object.keys(miners).length} miners from ${samples.length} samples, ${flagged} flagged\n`);
        return;
      }
      writeFileSync(f.json, `${JSON.stringify({ miners })}\n`);
      process.stdout.write(`scored ${Object.keys(miners).length} miners from ${samples.length} samples, ${flagged} flagged: ${f.json}\n`);
    });
};
