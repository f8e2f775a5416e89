import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { GOLDEN_SMALL } from "../fixtures/make-golden.js";

const run = promisify(execFile);
const swarmline = async (...args: string[]) => {
  try {
    const { stdout, stderr } = await run("node", ["bin/swarmline.mjs", ...args], { cwd: process.cwd() });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
};

const lines = readFileSync(GOLDEN_SMALL, "utf8").split("\n");
const dir = mkdtempSync(join(tmpdir(), "swl-log-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const copy = (name: string, ls: string[]) => {
  const path = join(dir, name);
  writeFileSync(path, ls.join("\n"));
  return path;
};
const idAt = (line: number) => (JSON.parse(lines[line - 1] as string) as { event: { id: string } }).event.id;

describe("swarmline log verify", () => {
  it("accepts the golden log with exit 0", async () => {
    const r = await swarmline("log", "verify", GOLDEN_SMALL);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^valid: .*28 events from 3 actors/);
  });

  it("prints a machine-readable verdict with --json, also with --full-signatures", async () => {
    const r = await swarmline("log", "verify", GOLDEN_SMALL, "--json", "--full-signatures");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, events: 28, actors: 3, signatures: "all" });
  });

  it.each([
    ["altered", (ls: string[]) => ls.map((l, i) => (i === 9 ? l.replace('"step":', '"step":1') : l)), 10, "BadHash"],
    ["removed", (ls: string[]) => ls.filter((_, i) => i !== 9), 11, "StreamGap"],
    ["duplicated", (ls: string[]) => [...ls.slice(0, 10), ls[9] as string, ...ls.slice(10)], 10, "Duplicate"],
    ["reordered", (ls: string[]) => [...ls.slice(0, 9), ls[10] as string, ls[9] as string, ...ls.slice(11)], 11, "StreamGap"],
  ] as const)("rejects a copy with one event %s, naming the event (exit 1)", async (name, change, line, reason) => {
    const file = copy(`${name}.jsonl`, change([...lines]));
    const human = await swarmline("log", "verify", file);
    expect(human.code).toBe(1);
    expect(human.stdout).toContain(`event ${idAt(line)}`);
    expect(human.stdout).toContain(reason);
    const json = await swarmline("log", "verify", file, "--json");
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, eventId: idAt(line), reason });
  });

  it("refuses a header-only log with exit 1, saying it holds no events", async () => {
    const file = copy("header-only.jsonl", [lines[0] as string, ""]);
    const human = await swarmline("log", "verify", file);
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/^INVALID: .*NoEvents: the log holds no events of run /);
    const json = await swarmline("log", "verify", file, "--json");
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, reason: "NoEvents" });
  });

  it("reports a missing file clearly with a non-zero exit", async () => {
    const r = await swarmline("log", "verify", join(dir, "absent.jsonl"));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot read .*absent\.jsonl.*ENOENT/);
  });

  it("has help", async () => {
    const r = await swarmline("log", "verify", "--help");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--full-signatures/);
  });
});

describe("swarmline log export/import at the edge", () => {
  it("refuses an unreadable import file with exit 2, naming the path", async () => {
    const r = await swarmline("log", "import", join(dir, "absent.jsonl"), "--nats", "nats://127.0.0.1:1");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot read .*absent\.jsonl.*check the FILE path/);
  });

  it("exits 1 on an unreachable NATS and says how to get a server", async () => {
    const r = await swarmline("log", "export", "--nats", "nats://127.0.0.1:1", "--run", "r");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/NatsUnavailable: cannot connect to nats:\/\/127\.0\.0\.1:1[\s\S]*swarmline nats/);
  });
});
