import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  adoptPartition,
  assignReducers, batchFor, chooseExtraReducer, digestBytes, f32Bytes, mergeTraffic, partitionBounds, permute, pickPeer,
  rngFor, weightedAverage, xoshiro128,
} from "../../../src/machines/protocol/index.js";

const miners = (m: number) => Array.from({ length: m }, (_, i) => `m${String(i).padStart(3, "0")}`);

describe("seeded generator", () => {
  it("replays the same draws from the same seed and differs across seeds", () => {
    const a = xoshiro128("run|e1"), b = xoshiro128("run|e1"), c = xoshiro128("run|e2");
    const da = Array.from({ length: 8 }, () => a.u32());
    expect(Array.from({ length: 8 }, () => b.u32())).toEqual(da);
    expect(Array.from({ length: 8 }, () => c.u32())).not.toEqual(da);
  });

  it("draws integers inside [0, n)", () => {
    fc.assert(fc.property(fc.string(), fc.integer({ min: 1, max: 1000 }), (s, n) => {
      const r = xoshiro128(s);
      for (let i = 0; i < 20; i++) { const x = r.int(n); if (x < 0 || x >= n || !Number.isInteger(x)) return false; }
      return true;
    }));
  });
});

describe("stochastic wiring", () => {
  const peers = [{ miner: "a", throughput: 3, queue: 0 }, { miner: "b", throughput: 1, queue: 0 }, { miner: "c", throughput: 4, queue: 3 }];

  it("ignores the caller's candidate order", () => {
    fc.assert(fc.property(fc.string(), (seed) =>
      pickPeer(peers, rngFor(seed, "route")) === pickPeer([...peers].reverse(), rngFor(seed, "route"))));
  });

  it("sends work in proportion to throughput / (1 + queue)", () => {
    const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < 6000; i++) counts[pickPeer(peers, rngFor("s", "route", i)) as string]! += 1;
    // weights 3 : 1 : 1
    expect(counts.a! / 6000).toBeCloseTo(0.6, 1);
    expect(counts.b! / 6000).toBeCloseTo(0.2, 1);
    expect(counts.c! / 6000).toBeCloseTo(0.2, 1);
  });

  it("never picks a peer with zero throughput while another can work", () => {
    const withDead = [...peers, { miner: "d", throughput: 0, queue: 0 }];
    for (let i = 0; i < 500; i++) expect(pickPeer(withDead, rngFor("s", "route", i))).not.toBe("d");
  });

  it("least-loaded: only the live peers with the fewest queued, in proportion to throughput, in any candidate order", () => {
    const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < 6000; i++) counts[pickPeer(peers, rngFor("s", "route", i), "least-loaded") as string]! += 1;
    // c holds 3: never; a and b hold none: 3 : 1
    expect(counts.c).toBe(0);
    expect(counts.a! / 6000).toBeCloseTo(0.75, 1);
    const busy = [{ miner: "a", throughput: 3, queue: 2 }, { miner: "b", throughput: 1, queue: 1 }, { miner: "d", throughput: 0, queue: 0 }];
    for (let i = 0; i < 200; i++) expect(pickPeer(busy, rngFor("s", "route", i), "least-loaded")).toBe("b"); // d is dead, b the least loaded live one
    fc.assert(fc.property(fc.string(), (seed) =>
      pickPeer(peers, rngFor(seed, "route"), "least-loaded") === pickPeer([...peers].reverse(), rngFor(seed, "route"), "least-loaded")));
    // One draw either way: the rng continues the same after a pick under each rule.
    const r1 = rngFor("s", "x");
    const r2 = rngFor("s", "x");
    pickPeer(peers, r1, "least-loaded");
    pickPeer(peers, r2);
    expect(r1.float()).toBe(r2.float());
  });
});

describe("data assignment", () => {
  it("maps each pass over the data to a permutation of the batches", () => {
    fc.assert(fc.property(fc.string(), fc.integer({ min: 1, max: 300 }), fc.nat(3), (seed, n, pass) => {
      const seen = new Set<number>();
      for (let k = pass * n; k < (pass + 1) * n; k++) seen.add(batchFor(seed, k, n));
      return seen.size === n && [...seen].every((b) => b >= 0 && b < n);
    }));
  });

  it("shuffles differently on each pass and for each seed", () => {
    const order = (seed: string, pass: number) => Array.from({ length: 50 }, (_, i) => batchFor(seed, pass * 50 + i, 50));
    expect(order("s", 0)).not.toEqual(order("s", 1));
    expect(order("s", 0)).not.toEqual(order("t", 0));
    expect(permute([1, 2, 3, 4], 7, 10)).toBe(permute([1, 2, 3, 4], 7, 10));
  });
});

describe("partitions", () => {
  it("cover the vector exactly with contiguous near-equal parts", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 100_000 }), fc.integer({ min: 1, max: 64 }), (n, p) => {
      const parts = partitionBounds(n, p);
      let next = 0;
      for (const q of parts) { if (q.start !== next || q.end <= q.start) return false; next = q.end; }
      const sizes = parts.map((q) => q.end - q.start);
      return next === n && parts.length === Math.min(n, p) && Math.max(...sizes) - Math.min(...sizes) <= 1;
    }));
  });

  it("give each partition two distinct reducers with loads balanced to within one", () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 40 }), fc.integer({ min: 1, max: 64 }), fc.string(), (m, p, seed) => {
      const plan = assignReducers(p, miners(m), rngFor(seed, "plan"));
      const load = new Map<string, number>(miners(m).map((x) => [x, 0]));
      for (const rs of plan) { if (rs.length !== 2 || rs[0] === rs[1]) return false; for (const r of rs) load.set(r, load.get(r)! + 1); }
      const loads = [...load.values()];
      return plan.length === p && Math.max(...loads) - Math.min(...loads) <= 1;
    }));
  });

  it("recompute the same plan from the same seed whatever the participant order", () => {
    const ps = miners(7);
    expect(assignReducers(8, ps, rngFor("s", "plan", "e9"))).toEqual(assignReducers(8, [...ps].reverse(), rngFor("s", "plan", "e9")));
  });

  it("choose an extra reducer outside the disputing pair, least loaded first", () => {
    const pick = chooseExtraReducer(["a", "b", "c", "d"], ["a", "b"], (m) => (m === "c" ? 2 : 1), rngFor("s", "x"));
    expect(pick).toBe("d");
    expect(chooseExtraReducer(["a", "b"], ["a", "b"], () => 0, rngFor("s", "x"))).toBeUndefined();
  });
});

describe("sample-weighted averaging", () => {
  const contribution = fc.record({ samples: fc.integer({ min: 1, max: 50 }), data: fc.float32Array({ minLength: 5, maxLength: 5, noNaN: true, min: -1e6, max: 1e6 }) });

  it("produces identical bytes for any order of the same contributions", () => {
    fc.assert(fc.property(fc.array(contribution, { minLength: 1, maxLength: 8 }), fc.integer(), (cs, rot) => {
      const named = cs.map((c, i) => ({ miner: `m${i}`, ...c }));
      const k = ((rot % named.length) + named.length) % named.length;
      const permuted = [...named.slice(k), ...named.slice(0, k)].reverse();
      return digestBytes(f32Bytes(weightedAverage(named))) === digestBytes(f32Bytes(weightedAverage(permuted)));
    }));
  });

  it("weights each contribution by its samples", () => {
    const avg = weightedAverage([{ miner: "a", samples: 3, data: Float32Array.of(1, 0) }, { miner: "b", samples: 1, data: Float32Array.of(5, 4) }]);
    expect(Array.from(avg)).toEqual([2, 1]);
  });

  it("rejects mismatched lengths and duplicate miners", () => {
    expect(() => weightedAverage([{ miner: "a", samples: 1, data: new Float32Array(2) }, { miner: "b", samples: 1, data: new Float32Array(3) }])).toThrow(RangeError);
    expect(() => weightedAverage([{ miner: "a", samples: 1, data: new Float32Array(2) }, { miner: "a", samples: 1, data: new Float32Array(2) }])).toThrow(RangeError);
  });

  it("hashes different bytes differently", () => {
    expect(digestBytes(f32Bytes(Float32Array.of(1, 2)))).not.toBe(digestBytes(f32Bytes(Float32Array.of(2, 1))));
  });
});

describe("merge traffic", () => {
  it("stays about 2x the stage size sent and under 3x received at any miner count", () => {
    const n = 1_000_000;
    const ratios = [4, 8, 16, 64].map((m) => {
      const ps = miners(m);
      const parts = partitionBounds(n, 4 * m);
      const plan = assignReducers(parts.length, ps, rngFor("s", "plan", m));
      const worst = Math.max(...ps.map((x) => mergeTraffic(x, ps, parts, plan).sent));
      const worstIn = Math.max(...ps.map((x) => mergeTraffic(x, ps, parts, plan).received));
      return [worst / (4 * n), worstIn / (4 * n)] as const;
    });
    for (const [sent, received] of ratios) {
      expect(sent).toBeCloseTo(2, 2);
      expect(received).toBeLessThan(3.01);
    }
  });
});

describe("adopting a merge result", () => {
  it("replaces the partition when training paused, and keeps the progress since the snapshot when it overlapped", () => {
    const result = Float32Array.of(10, 20);
    const paused = Float32Array.of(1, 2, 3, 4);
    adoptPartition(paused, 1, result, undefined);
    expect([...paused]).toEqual([1, 10, 20, 4]);
    // Sent 2 and 3 at the merge's start; trained on to 2.5 and 2 meanwhile.
    const base = Float32Array.of(1, 2, 3, 4);
    const now = Float32Array.of(1, 2.5, 2, 4);
    adoptPartition(now, 1, result, base);
    expect([...now]).toEqual([1, 10.5, 19, 4]);
  });

  it("lands every overlapped miner of a stage at the same point when none trained during the merge", () => {
    fc.assert(fc.property(fc.array(fc.float({ noNaN: true, min: -4, max: 4 }), { minLength: 1, maxLength: 40 }), (xs) => {
      const w = Float32Array.from(xs);
      const merged = Float32Array.from(xs, (x) => x / 2);
      adoptPartition(w, 0, merged, w.slice());
      expect([...w].map((v) => v + 0)).toEqual([...merged].map((v) => v + 0)); // equal values (a -0 may come back +0)
    }));
  });
});
