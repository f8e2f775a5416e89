// The metagraph registry's policy with a scripted chain and clock: when it reads, what it keeps.
import { describe, expect, it } from "vitest";
import { followMetagraph, type MetagraphSnapshot, openMetagraphRegistry } from "../../../src/actors/gatekeeper/metagraph.js";
import type { Member, Registry } from "../../../src/machines/gatekeeper/index.js";

const snap = (block: number, ...hotkeys: string[]): MetagraphSnapshot => ({ netuid: 3, block, neurons: hotkeys.map((hotkey) => ({ hotkey, validatorPermit: hotkey.startsWith("v") })) });

/** A chain whose answers the test scripts: each read takes the next one (a snapshot, an error, or a read that never answers). */
const scripted = (...answers: Array<MetagraphSnapshot | Error | "hang">) => {
  const chain = { reads: 0 };
  const read = (): Promise<MetagraphSnapshot> => {
    const a = answers[Math.min(chain.reads, answers.length - 1)] as MetagraphSnapshot | Error | "hang";
    chain.reads++;
    return a === "hang" ? new Promise(() => undefined) : a instanceof Error ? Promise.reject(a) : Promise.resolve(a);
  };
  return { chain, read };
};

const hotkeys = (r: Registry): string[] => [...r.keys()].sort();

describe("metagraph registry", () => {
  it("reads at start, grants by permit and names the orchestrators", async () => {
    const { read } = scripted(snap(10, "m1", "v1"));
    const seen: string[] = [];
    const r = await openMetagraphRegistry({ read, orchestrators: ["owner"], onSnapshot: (m, _r, c) => seen.push(`${m.block}: +${c.added.join(",")}`) });
    expect(hotkeys(r.registry())).toEqual(["m1", "owner", "v1"]);
    expect([...(r.registry().get("v1") ?? [])].sort()).toEqual(["miner", "validator"]);
    expect(seen).toEqual(["10: +m1,owner,v1"]);
  });

  it("fails to open on a subnet it cannot read", async () => {
    const { read } = scripted(new Error("subnet 3 does not exist"));
    await expect(openMetagraphRegistry({ read, orchestrators: [] })).rejects.toThrow(/does not exist/);
  });

  it("re-reads for an unknown hotkey at most once per gap, however many ask", async () => {
    let clock = 0;
    const { chain, read } = scripted(snap(10, "m1"), snap(11, "m1", "m2"), snap(12, "m1", "m2", "m3"));
    const r = await openMetagraphRegistry({ read, orchestrators: [], recheckGapMs: 5_000, now: () => clock });
    clock = 4_999;
    await Promise.all([r.recheck(), r.recheck(), r.recheck()]);
    expect(chain.reads).toBe(1);
    clock = 5_000;
    await Promise.all([r.recheck(), r.recheck(), r.recheck()]);
    expect(chain.reads).toBe(2);
    expect(hotkeys(r.registry())).toEqual(["m1", "m2"]);
    clock = 9_999;
    await r.recheck();
    expect(chain.reads).toBe(2);
  });

  it("counts a scheduled refresh as a fresh read for the rate limit", async () => {
    let clock = 0;
    const { chain, read } = scripted(snap(10, "m1"), snap(11, "m1", "m2"));
    const r = await openMetagraphRegistry({ read, orchestrators: [], recheckGapMs: 5_000, now: () => clock });
    clock = 60_000;
    await r.refresh();
    await r.recheck();
    expect(chain.reads).toBe(2);
  });

  it("keeps the last snapshot when a read fails, and says why", async () => {
    const { read } = scripted(snap(10, "m1"), new Error("connection reset"), snap(12, "m2"));
    const warnings: string[] = [];
    const r = await openMetagraphRegistry({ read, orchestrators: [], onReadFailed: (m, kept) => warnings.push(`${m} (kept ${kept.block})`) });
    expect(await r.refresh()).toBe(false);
    expect(hotkeys(r.registry())).toEqual(["m1"]);
    expect(warnings).toEqual(["connection reset (kept 10)"]);
    expect(await r.refresh()).toBe(true);
    expect(hotkeys(r.registry())).toEqual(["m2"]);
  });

  it("gives up on a read that does not answer, and the next one is not held up by it", async () => {
    const { chain, read } = scripted(snap(10, "m1"), "hang", snap(11, "m1", "m2"));
    const warnings: string[] = [];
    const r = await openMetagraphRegistry({ read, orchestrators: [], readTimeoutMs: 20, onReadFailed: (m) => warnings.push(m) });
    // Two callers share the silent read; it is given up on (and said) once.
    expect(await Promise.all([r.refresh(), r.refresh()])).toEqual([false, false]);
    expect(warnings).toEqual(["the chain did not answer within 20 ms"]);
    expect(await r.refresh()).toBe(true);
    expect(chain.reads).toBe(3);
    expect(hotkeys(r.registry())).toEqual(["m1", "m2"]);
  });

  it("never replaces a snapshot with one read at an older block", async () => {
    let release: (m: MetagraphSnapshot) => void = () => undefined;
    let n = 0;
    const read = (): Promise<MetagraphSnapshot> => {
      n++;
      if (n === 1) return Promise.resolve(snap(10, "m1"));
      if (n === 2) return new Promise((resolve) => { release = resolve; });
      return Promise.resolve(snap(12, "m1", "m3"));
    };
    const r = await openMetagraphRegistry({ read, orchestrators: [], readTimeoutMs: 20 });
    expect(await r.refresh()).toBe(false); // the read at block 11 is slow
    expect(await r.refresh()).toBe(true);
    release(snap(11, "m1", "m2"));
    await new Promise((resolve) => setImmediate(resolve));
    expect(r.snapshot().block).toBe(12);
    expect(hotkeys(r.registry())).toEqual(["m1", "m3"]);
  });
});

describe("followMetagraph", () => {
  it("removes from the gate the members a refreshed snapshot no longer admits", async () => {
    const { read } = scripted(snap(10, "m1", "m2", "v1"), snap(11, "m1", "v1"));
    const r = await openMetagraphRegistry({ read, orchestrators: [] });
    const members: Member[] = [{ run: "r", hotkey: "m1", role: "miner" }, { run: "r", hotkey: "m2", role: "miner" }, { run: "r", hotkey: "v1", role: "validator" }];
    const gate = { retain: async (reg: Registry) => members.filter((m) => reg.get(m.hotkey)?.has(m.role) !== true) };
    const f = followMetagraph(r, gate, 3_600_000);
    expect(await f.refresh()).toEqual([{ run: "r", hotkey: "m2", role: "miner" }]);
    f.stop();
  });
});
