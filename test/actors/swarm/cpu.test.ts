import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { cpuMeter, processSeconds } from "../../../src/actors/swarm/cpu.js";

describe("cpuMeter", () => {
  it("counts this process's CPU and a child's from /proc, over the measured span", async () => {
    // A child that spins for 0.8 s of wall time, then exits on its own.
    const child = spawn(process.execPath, ["-e", "const t = Date.now(); while (Date.now() - t < 800);"], { stdio: "ignore" });
    const pid = child.pid as number;
    const meter = cpuMeter(() => [pid]);
    const t = performance.now();
    while (performance.now() - t < 300); // this process spins too
    await new Promise((r) => setTimeout(r, 400));
    const use = meter.stop();
    const exited = new Promise((r) => child.once("exit", r));
    expect(use.userSeconds + use.systemSeconds).toBeGreaterThan(0.1);
    expect(use.childSeconds).not.toBeNull();
    expect(use.childSeconds as number).toBeGreaterThan(0.1);
    expect(use.wallSeconds).toBeGreaterThanOrEqual(0.7);
    expect(use.cores).toBeCloseTo((use.userSeconds + use.systemSeconds + (use.childSeconds as number)) / use.wallSeconds, 9);
    await exited;
  });

  it("reads no seconds for a process that is not there, and then measures no children", () => {
    expect(processSeconds(2 ** 22 + 12345)).toBeUndefined();
    expect(processSeconds(process.pid)).toBeGreaterThanOrEqual(0);
    expect(cpuMeter(() => [2 ** 22 + 12345]).stop().childSeconds).toBeNull();
    expect(cpuMeter().stop().childSeconds).toBeNull();
  });
});
