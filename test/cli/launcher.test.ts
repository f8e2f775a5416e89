// The launchers' first lines: `swarmline` (bin/swarmline.mjs) and `npm run bench` (bench/run.ts)
// start node with glibc's malloc settings in GLIBC_TUNABLES (read only at process start), the
// same in both, with a caller's own tunables appended so they win.
import { execFile } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const firstLine = (path: string): string => readFileSync(path, "utf8").split("\n")[0] as string;
const TUNABLES = /^#!\/usr\/bin\/env -S GLIBC_TUNABLES=(\S+):\$\{GLIBC_TUNABLES\} node( |$)/;

const dir = mkdtempSync(join(tmpdir(), "swl-launcher-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("launchers", () => {
  it("set the same malloc tunables for swarmline and the benchmarks", () => {
    const cli = TUNABLES.exec(firstLine("bin/swarmline.mjs"));
    const bench = TUNABLES.exec(firstLine("bench/run.ts"));
    expect(cli?.[1]).toBe("glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296");
    expect(bench?.[1]).toBe(cli?.[1]);
    for (const f of ["bin/swarmline.mjs", "bench/run.ts"]) expect(statSync(f).mode & 0o111, `${f} is executable`).not.toBe(0);
  });

  it("passes them to node, with the caller's own tunables after them", async () => {
    const probe = join(dir, "probe.mjs");
    writeFileSync(probe, `${firstLine("bin/swarmline.mjs")}\nconsole.log(JSON.stringify({ t: process.env.GLIBC_TUNABLES, argv: process.argv.slice(2) }));\n`);
    chmodSync(probe, 0o755);
    const env = { ...process.env };
    delete env["GLIBC_TUNABLES"];
    const plain = JSON.parse((await run(probe, ["a", "b c"], { env })).stdout) as { t: string; argv: string[] };
    expect(plain.argv).toEqual(["a", "b c"]);
    expect(plain.t.startsWith("glibc.malloc.hugetlb=1:")).toBe(true);
    const mine = JSON.parse((await run(probe, [], { env: { ...env, GLIBC_TUNABLES: "glibc.malloc.hugetlb=0" } })).stdout) as { t: string };
    expect(mine.t.endsWith(":glibc.malloc.hugetlb=0")).toBe(true);
  });

  it("runs swarmline as an executable", async () => {
    const { stdout } = await run("bin/swarmline.mjs", ["--help"]);
    expect(stdout).toMatch(/^Usage: swarmline/);
  });
});
