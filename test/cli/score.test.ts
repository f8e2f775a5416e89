// `swarmline score`: scores a pathways file with a planted harmful miner (JSON and table output),
// and refuses malformed lines, unreadable files and bad flags with exit 2, naming the problem.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { xoshiro128 } from "../../src/machines/protocol/index.js";
import { captureOutput } from "./capture.js";

const dir = mkdtempSync(join(tmpdir(), "swl-score-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

/** 3 stages of 3 miners, uniform routing, a falling loss; "evil" (stage 1) adds 0.5 to its pathways. */
const pathwayLines = (): string[] => {
  const rng = xoshiro128("score-cli"), stages = [["a0", "a1", "a2"], ["b0", "b1", "evil"], ["c0", "c1", "c2"]];
  const lines: string[] = [];
  for (let step = 0; step < 300; step++) {
    for (let k = 0; k < 3; k++) {
      const pathway = stages.map((ms) => ms[rng.int(3)] as string);
      const noise = 0.1 * Math.sqrt(-2 * Math.log(1 - rng.float())) * Math.cos(2 * Math.PI * rng.float());
      lines.push(JSON.stringify({ pathway, loss: 3 + Math.exp(-step / 100) + (pathway[1] === "evil" ? 0.5 : 0) + noise, step }));
    }
  }
  return lines;
};

describe("swarmline score", () => {
  const io = captureOutput();

  const score = (...args: string[]): Promise<number> => main(["node", "swarmline", "score", ...args]);

  it("writes every miner's stage, contribution, interval, samples and flag with --json, flagging the harmful one", async () => {
    const lines = pathwayLines();
    const pathways = file("run.jsonl", `${lines.slice(0, 10).join("\n")}\n\n${lines.slice(10).join("\n")}\n`); // a blank line is ignored
    const json = join(dir, "scores.json");
    expect(await score("--pathways", pathways, "--json", json, "--seed", "w1")).toBe(0);
    const { miners } = JSON.parse(readFileSync(json, "utf8")) as { miners: Record<string, { stage: number; contribution: number; ci: [number, number]; samples: number; flagged: boolean }> };
    expect(Object.keys(miners)).toEqual(["a0", "a1", "a2", "b0", "b1", "c0", "c1", "c2", "evil"]);
    for (const s of Object.values(miners)) {
      expect(Object.keys(s)).toEqual(["stage", "contribution", "ci", "samples", "flagged"]);
      expect(s.ci[0]).toBeLessThanOrEqual(s.contribution);
      expect(s.ci[1]).toBeGreaterThanOrEqual(s.contribution);
    }
    expect(Object.values(miners).reduce((t, s) => t + s.samples, 0)).toBe(3 * lines.length);
    expect(miners.evil).toMatchObject({ stage: 1, flagged: true });
    expect(miners.evil?.contribution).toBeCloseTo(-0.5 * (2 / 3), 1);
    expect(miners.b0?.contribution).toBeCloseTo(0.5 / 3, 1);
    expect(Object.entries(miners).filter(([, s]) => s.flagged).map(([m]) => m)).toEqual(["evil"]);
    expect(io.out).toMatch(/scored 9 miners from 900 samples, 1 flagged/);
  });

  it("prints a table by stage without --json, marking the flagged miner", async () => {
    const pathways = file("table.jsonl", pathwayLines().join("\n"));
    expect(await score("--pathways", pathways, "--bootstrap", "50", "--delta", "0.05", "--confidence", "0.9")).toBe(0);
    const rows = io.out.trim().split("\n");
    expect(rows[0]).toMatch(/stage\s+miner\s+samples\s+contribution\s+90% CI/);
    expect(rows.slice(1, 10).map((r) => r.trim().split(/\s+/)[1])).toEqual(["a0", "a1", "a2", "b0", "b1", "evil", "c0", "c1", "c2"]);
    expect(rows.find((r) => r.includes("evil"))).toMatch(/^\s*1\s+evil\s+\d+\s+-0\.3\d+\s+\[-0\.\d+, -0\.\d+\]\s+FLAGGED$/);
    expect(rows.filter((r) => r.includes("FLAGGED"))).toHaveLength(1);
  });

  it.each([
    ["a line that is not JSON", '{"pathway": ["a", "b"], "loss": 1', /line 3: not JSON/],
    ["a loss that is not a number", '{"pathway": ["a", "b"], "loss": "1.2", "step": 2}', /line 3: "loss" must be a number, got "1.2"/],
    ["a step that is not an integer", '{"pathway": ["a", "b"], "loss": 1.2, "step": -1}', /line 3: "step" must be an integer >= 0, got -1/],
    ["a miner id that is not a string", '{"pathway": ["a", 7], "loss": 1.2, "step": 2}', /line 3: "pathway"\[1\] must be a non-empty string/],
    ["a pathway of another length", '{"pathway": ["a", "b", "c"], "loss": 1.2, "step": 2}', /line 3: the pathway has 3 stages, line 1 has 2/],
    ["an array instead of an object", "[1, 2]", /line 3: expected an object/],
  ])("refuses %s with exit 2, naming the line", async (_, bad, message) => {
    const good = '{"pathway": ["a", "b"], "loss": 1.5, "step": 0}';
    const pathways = file("bad.jsonl", [good, "", bad, good].join("\n"));
    const json = join(dir, "never.json");
    expect(await score("--pathways", pathways, "--json", json)).toBe(2);
    expect(io.err).toMatch(message);
    expect(io.err).toContain(pathways);
    expect(() => readFileSync(json)).toThrow();
  });

  it("refuses an unreadable file and bad flag values with exit 2", async () => {
    expect(await score("--pathways", join(dir, "absent.jsonl"))).toBe(2);
    expect(io.err).toMatch(/cannot read .*absent\.jsonl.*--pathways/);
    const pathways = file("ok.jsonl", '{"pathway": ["a"], "loss": 1, "step": 0}\n');
    expect(await score("--pathways", pathways, "--confidence", "1.5")).toBe(2);
    expect(io.err).toMatch(/--confidence must be in \(0, 1\), got "1\.5"/);
    expect(await score("--pathways", pathways, "--bootstrap", "ten")).toBe(2);
    expect(io.err).toMatch(/--bootstrap must be an integer >= 0/);
    expect(await score()).toBe(2); // --pathways is required
  });

  it("has help", async () => {
    expect(await score("--help")).toBe(0);
    expect(io.out).toMatch(/--pathways <file>[\s\S]*--json <file>[\s\S]*--seed[\s\S]*--bootstrap[\s\S]*--delta[\s\S]*--confidence/);
  });
});
