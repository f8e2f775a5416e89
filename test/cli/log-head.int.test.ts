// `sim --head FILE` writes the orchestrator's signed heads; `log verify --head FILE` then catches a
// log whose end was cut, even when the cut log is itself valid (its header rewritten to match).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EmbeddedNats, startEmbeddedNats } from "../../src/actors/nats/testing.js";
import { main } from "../../src/cli/main.js";
import { parseHeadFile } from "../../src/events/head.js";
import { captureOutput } from "./capture.js";

const TINY = ["--stages", "3", "--layers", "3", "--d-model", "32", "--heads", "2", "--seq", "16", "--batch", "4", "--bottleneck", "4", "--quant", "int8", "--eval-every", "20"];

describe("anchored heads end to end", () => {
  const io = captureOutput();
  let nats: EmbeddedNats;
  let dir: string;
  beforeAll(async () => {
    nats = await startEmbeddedNats();
    dir = mkdtempSync(join(tmpdir(), "swl-head-"));
  });
  afterAll(async () => {
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The log without its last `k` events, header rewritten so that the shorter log is valid as a log. */
  const cut = (lines: readonly string[], k: number): string[] => {
    const header = JSON.parse(lines[0] as string) as { last?: number };
    const kept = lines.slice(1, lines.length - k);
    header.last = (JSON.parse(kept[kept.length - 1] as string) as { seq: number }).seq;
    return [JSON.stringify(header), ...kept];
  };
  const verify = async (log: string, head?: string): Promise<number> => {
    io.out = "";
    return main(["node", "swarmline", "log", "verify", log, ...(head === undefined ? [] : ["--head", head])]);
  };

  it("writes an anchor per scoring window and at the end, and refuses a valid log that was cut at its end", async () => {
    const log = join(dir, "run.jsonl");
    const head = join(dir, "run.head");
    const code = await main(["node", "swarmline", "sim", "--nats", nats.url, ...TINY, "--miners", "4", "--steps", "24", "--merge-every", "4", "--window", "8", "--log", log, "--head", head]);
    expect(code, io.err).toBe(0);
    const anchors = parseHeadFile(readFileSync(head, "utf8"));
    if ("error" in anchors) throw new Error(anchors.error);
    // Windows close at 8, 16 and 24 completed microbatches; then completion and the end of the run.
    expect(anchors.anchors.map((a) => a.completed).slice(0, 3)).toEqual([8, 16, 24]);
    expect(anchors.anchors[anchors.anchors.length - 1]?.reason).toBe("completed");
    expect(await verify(log, head)).toBe(0);
    expect(io.out).toMatch(/holds all \d+ anchored heads/);
    // The shortest cut the log's own checks cannot see (its last events signed: a clean batch end).
    const lines = readFileSync(log, "utf8").trimEnd().split("\n");
    const shorter = join(dir, "cut.jsonl");
    let k = 1;
    for (; k < 200; k++) {
      writeFileSync(shorter, `${cut(lines, k).join("\n")}\n`);
      if ((await verify(shorter)) === 0) break;
    }
    expect(k).toBeLessThan(200);
    expect(await verify(shorter, head)).toBe(1);
    expect(io.out).toMatch(/INVALID: .*Truncated: head file anchor \d+: .*chain ends at seq \d+ in the log, but the anchor .* holds seq \d+: events were cut from the log/);
  }, 120_000);

  it("refuses an unreadable head file with exit 2, naming it", async () => {
    const bogus = join(dir, "bogus.head");
    writeFileSync(bogus, "hello\n");
    const golden = new URL("../fixtures/golden-scored.jsonl", import.meta.url).pathname;
    expect(await main(["node", "swarmline", "log", "verify", golden, "--head", bogus])).toBe(2);
    expect(io.err).toMatch(/--head .*bogus\.head is not a head file: line 1 is not JSON/);
  });
});
