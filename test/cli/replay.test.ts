// `swarmline replay`: time travel through the killed-miner sim log. --json prints the
// orchestrator's and every worker's state at a point; the text output names the open merge and
// each machine's state; --step, --actor and --diff narrow or compare; bad points, unreadable logs
// and unknown miners exit 2 naming the fix.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import type { RunSnapshot, SnapshotDiff } from "../../src/machines/replay/index.js";
import { captureOutput } from "./capture.js";

const LOG = fileURLToPath(new URL("../fixtures/sim-killed.jsonl", import.meta.url));
const RUN = "sim-1-d81307";
const KILLED = "5Cyn2nMWaEMfx9WfobdMoteKoPF7hwP4Gw5MHBznqWFkisrK";
const PARTNER = "5HipECoTgvusTYknA6sUvTR8xPReygF5p9RJQuHoDun16Ev2";
const MINERS = [KILLED, "5EASTaokxirHhjuMC4KYjxxpCqh8HcFkaDUnyqKbT7Wj5hWP", "5F7Z3hfWxcf1Z23HGquSyHzEqu9LY4gHhaQcv3fbU8mkRUk3",
  "5FpjvVN9fkYjNvNwzZYxLFNz2UVDmeZ8ZvD47A1dLMnsVgo6", "5GKcNHCWnQdPD3NxUwHsr5GCt5ecG9o9CwAzBzvw2iHzKhmX", PARTNER];

const dir = mkdtempSync(join(tmpdir(), "swl-replay-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("swarmline replay", () => {
  const io = captureOutput();
  const replay = (...args: string[]): Promise<number> => main(["node", "swarmline", "replay", ...args]);
  const json = <T>(): T => JSON.parse(io.out) as T;

  it("--at N --json prints the orchestrator's and every worker's state at that point (mid-merge)", async () => {
    expect(await replay(LOG, "--at", "172", "--json")).toBe(0);
    const s = json<RunSnapshot>();
    expect(s.position).toMatchObject({ seq: 172, step: 12, total: 561 });
    expect(s.orchestrator?.stages.map((st) => st.phase)).toEqual(["merging", "training", "training"]);
    expect(Object.keys(s.orchestrator?.merges ?? {})).toEqual([`${RUN}:o33`]);
    expect(Object.keys(s.workers)).toEqual(MINERS);
    expect(Object.fromEntries(Object.entries(s.workers).map(([m, w]) => [m.slice(0, 8), w.reconstructed ? w.state : null]))).toEqual({
      "5Cyn2nMW": { merging: "exchanging" }, "5HipECoT": { merging: "exchanging" },
      "5FpjvVN9": { merging: "loading" }, "5GKcNHCW": { merging: "loading" }, "5EASTaok": { merging: "loading" }, "5F7Z3hfW": "training",
    });
  });

  it("defaults to the end of the log: the run completed, every machine gone, the validator's scores", async () => {
    expect(await replay(LOG, "--json")).toBe(0);
    const s = json<RunSnapshot>();
    expect(s.position).toMatchObject({ seq: 561, entries: 561 });
    expect(s.orchestrator).toMatchObject({ done: true, counters: { completed: 16, reissued: 3, timedOut: 1 } });
    expect(Object.values(s.workers).map((w) => (w.reconstructed ? w.state : null))).toEqual(MINERS.map(() => "gone"));
    expect(Object.values(s.scores)[0]?.contributions).toHaveLength(6);
  });

  it("prints the point as tables: the open merge's partitions, the dead miner gone, the retry queue, each machine", async () => {
    expect(await replay(LOG, "--at", "431")).toBe(0);
    const out = io.out;
    expect(out).toMatch(new RegExp(`^run ${RUN} at seq 431 \\(entry 431 of 561, 423 facts, step 62\\): last PartitionReassigned by 5GrwvaEF…`));
    expect(out).toMatch(/microbatches 12 completed of 15 leased, 3 reissued/);
    expect(out).toMatch(/5Cyn2nMW…\s+gone\s+0\s+0\s+1\s+-\s+11/);
    expect(out).toContain("retry queue: microbatch 6 (batch 572381, attempt 1), microbatch 10 (batch 235581, attempt 1), microbatch 14 (batch 872920, attempt 1)");
    expect(out).toContain("merge o33: stage 0, epoch 0; participants 5Cyn2nMW… (2), 5HipECoT… (2); sent 2 of 2; sealed over 2");
    expect(out).toMatch(/\b0\s+open\s+5Cyn2nMW…, 5HipECoT…, 5EASTaok…\s+5HipECoT…=2aa4840f…\s+5Cyn2nMW…/);
    expect(out).toMatch(/5Cyn2nMW…\s+gone\s+0\s+0\s+0\s+o33\s+7\s+0\s+3\s+3\s+reduce×4 backward×1 forward×2\s+11\/21\s+134 BackwardCompleted @11/);
    expect(out).toMatch(/5HipECoT…\s+merging\.exchanging\s+0/);
    expect(out).toContain("5Cyn2nMW…: decided, not in the log by this point: HeartbeatSent×10");
  });

  it("--step N is the end of that logical step", async () => {
    expect(await replay(LOG, "--step", "11", "--json")).toBe(0);
    expect(json<RunSnapshot>().position).toMatchObject({ seq: 155, step: 11 });
  });

  it("--actor narrows to one miner (a unique prefix will do): its record, its machine, its leases and merges, its scores", async () => {
    expect(await replay(LOG, "--at", "423", "--actor", "5Cyn2n", "--json")).toBe(0);
    const s = json<RunSnapshot>();
    expect(Object.keys(s.workers)).toEqual([KILLED]);
    expect(Object.keys(s.orchestrator?.miners ?? {})).toEqual([KILLED]);
    expect(Object.keys(s.orchestrator?.leases ?? {})).toEqual([`${RUN}:o34`, `${RUN}:o59`, `${RUN}:o82`]);
    expect(Object.keys(s.orchestrator?.merges ?? {})).toEqual([`${RUN}:o33`]);
    expect(s.orchestrator?.stages).toHaveLength(3);
  });

  it("--diff A B prints what changed: the timeout closes the dead miner's leases and queues them again", async () => {
    expect(await replay(LOG, "--diff", "423", "431", "--json")).toBe(0);
    const d = json<SnapshotDiff>();
    expect([d.from.seq, d.to.seq]).toEqual([423, 431]);
    expect(d.changes.filter((c) => c.path[1] === "leases").map((c) => [c.path[2], c.kind])).toEqual([[`${RUN}:o34`, "removed"], [`${RUN}:o59`, "removed"], [`${RUN}:o82`, "removed"]]);
    io.out = "";
    expect(await replay(LOG, "--diff", "423", "431")).toBe(0);
    expect(io.out).toMatch(/^run sim-1-d81307 from seq 423 \(step 62\) to seq 431 \(step 62\): 28 changes/);
    expect(io.out).toContain(`  ~ orchestrator.miners.5Cyn2nMW….status: "active" -> "gone"`);
    expect(io.out).toContain(`  - orchestrator.leases.o34: {"microbatch":6,"batch":572381,"attempt":0,`);
    expect(io.out).toContain(`  ~ workers.5Cyn2nMW….state: {"merging":"exchanging"} -> "gone"`);
  });

  it.each([
    ["a seq past the end", ["--at", "562"], /seq 562 is past the end of .*sim-killed\.jsonl: its last entry is seq 561 \(pick --at 0\.\.561\)/],
    ["a step past the end", ["--step", "66"], /step 66 is past the end of .*: the orchestrator's clock reached step 65 \(pick --step 0\.\.65\)/],
    ["a seq that is no number", ["--at", "ten"], /--at expects a non-negative integer, got "ten"/],
    ["both --at and --step", ["--at", "3", "--step", "1"], /give --at SEQ or --step N, not both/],
    ["--diff with one seq", ["--diff", "3"], /--diff takes two stream seqs \(--diff A B\), got 1/],
    ["--diff with --at", ["--diff", "3", "4", "--at", "5"], /--diff A B names its own two points/],
    ["a miner the log does not have", ["--actor", "5Zzz"], /--actor 5Zzz: no miner of this log has that id \(its miners: 5Cyn2nMW…, /],
    ["an ambiguous miner prefix", ["--actor", "5F"], /--actor 5F: 2 miners start with it .* give more of the id/],
  ])("exits 2 for %s, naming the fix", async (_, args, message) => {
    expect(await replay(LOG, ...args)).toBe(2);
    expect(io.err).toMatch(message);
    expect(io.out).toBe("");
  });

  it("exits 2 for a log it cannot read: a missing file, a file that is not a log, an event that does not decode, a log with no events", async () => {
    expect(await replay(join(dir, "absent.jsonl"))).toBe(2);
    expect(io.err).toMatch(/cannot read .*absent\.jsonl.*check the FILE path/);
    const notLog = join(dir, "notes.txt");
    writeFileSync(notLog, "hello\n");
    expect(await replay(notLog)).toBe(2);
    expect(io.err).toMatch(/notes\.txt is not a readable log: line 1: BadHeader/);
    const lines = readFileSync(LOG, "utf8").split("\n");
    const bad = join(dir, "bad.jsonl");
    writeFileSync(bad, lines.map((l, i) => (i === 6 ? l.replace('"payload":{"throughput":1}', '"payload":{"throughput":"fast"}') : l)).join("\n"));
    expect(await replay(bad, "--at", "10")).toBe(2);
    expect(io.err).toMatch(/event sim-1-d81307:5Cyn2nMW\S+:1 \(MinerJoined\) at seq 6 of .*bad\.jsonl does not decode/);
    const empty = join(dir, "empty.jsonl");
    writeFileSync(empty, `${lines[0] as string}\n`);
    expect(await replay(empty)).toBe(2);
    expect(io.err).toMatch(/empty\.jsonl holds no events/);
  });

  it("takes FILE or --nats URL --run ID, like audit, and prints its usage with --help", async () => {
    expect(await replay()).toBe(2);
    expect(io.err).toMatch(/replay needs a log: FILE .* or --nats URL --run ID/);
    expect(await replay(LOG, "--nats", "nats://127.0.0.1:1", "--run", RUN)).toBe(2);
    expect(io.err).toMatch(/either FILE .* not both/);
    expect(await replay("--help")).toBe(0);
    expect(io.out).toMatch(/Usage: swarmline replay \[options\] \[file\]/);
    for (const flag of ["--at <seq>", "--step <n>", "--actor <id>", "--diff <seqs...>", "--json"]) expect(io.out).toContain(flag);
  });
});
