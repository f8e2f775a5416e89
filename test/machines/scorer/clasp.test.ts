// CLASP against the exact Shapley values of small synthetic stage games (additive and interacting,
// with a falling loss), the Shapley axioms of the reference, flags, late joiners and determinism.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Rng, shuffled, xoshiro128 } from "../../../src/machines/protocol/index.js";
import { clasp, type PathwaySample } from "../../../src/machines/scorer/clasp.js";
import { exactContributions, type StageGame, stageShapley } from "../../../src/machines/scorer/shapley.js";

const gaussian = (rng: Rng): number => Math.sqrt(-2 * Math.log(1 - rng.float())) * Math.cos(2 * Math.PI * rng.float());

const minersOf = (sizes: readonly number[]): string[][] => sizes.map((m, s) => Array.from({ length: m }, (_, j) => `s${s}m${j}`));

/** Every pathway of the game. */
const pathways = (players: readonly (readonly string[])[]): string[][] =>
  players.reduce<string[][]>((acc, ms) => acc.flatMap((p) => ms.map((m) => [...p, m])), [[]]);

/** A game whose losses are an arbitrary table, indexed by the pathway in mixed radix. */
const tableGame = (sizes: readonly number[], table: readonly number[]): StageGame => {
  const players = minersOf(sizes);
  return {
    players,
    loss: (p) => table[p.reduce((k, m, s) => k * (sizes[s] as number) + (players[s] as string[]).indexOf(m), 0) % table.length] as number,
  };
};

interface Draw {
  readonly seed: string;
  readonly steps: number;
  readonly perStep: number;
  readonly noise: number;
  /** The loss added at a step (training makes it fall). */
  readonly trend?: (step: number) => number;
  /** The miners a sample can be routed to at a stage and step (default: all of the stage). */
  readonly route?: (s: number, step: number) => readonly string[];
}

/** Samples of a game with uniform independent routing among the miners `route` allows. */
const draw = (g: StageGame, o: Draw): PathwaySample[] => {
  const rng = xoshiro128(o.seed), out: PathwaySample[] = [];
  for (let step = 0; step < o.steps; step++) {
    for (let k = 0; k < o.perStep; k++) {
      const pathway = g.players.map((ms, s) => {
        const allowed = o.route?.(s, step) ?? ms;
        return allowed[rng.int(allowed.length)] as string;
      });
      out.push({ pathway, loss: g.loss(pathway) + (o.trend?.(step) ?? 0) + o.noise * gaussian(rng), step });
    }
  }
  return out;
};

const falling = (steps: number) => (step: number): number => 2 * Math.exp((-4 * step) / steps);

/** Spearman rank correlation (average ranks for ties). */
const spearman = (xs: readonly number[], ys: readonly number[]): number => {
  const ranks = (v: readonly number[]): number[] => {
    const order = v.map((x, i) => [x, i] as const).sort((a, b) => a[0] - b[0]);
    const r = new Array<number>(v.length).fill(0);
    for (let i = 0; i < order.length;) {
      let j = i;
      while (j + 1 < order.length && (order[j + 1] as readonly [number, number])[0] === (order[i] as readonly [number, number])[0]) j++;
      for (let k = i; k <= j; k++) r[(order[k] as readonly [number, number])[1]] = (i + j) / 2;
      i = j + 1;
    }
    return r;
  };
  const a = ranks(xs), b = ranks(ys), mean = (xs.length - 1) / 2;
  let num = 0, da = 0, db = 0;
  a.forEach((x, i) => {
    const y = b[i] as number;
    num += (x - mean) * (y - mean);
    da += (x - mean) ** 2;
    db += (y - mean) ** 2;
  });
  return num / Math.sqrt(da * db);
};

const sizesArb = fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 4 });
const tableArb = fc.array(fc.double({ min: -5, max: 5, noNaN: true }), { minLength: 81, maxLength: 81 });

describe("exact Shapley values of a stage game", () => {
  it("splits E[L] − L(pathway) among the stages of every pathway (efficiency)", () => {
    fc.assert(fc.property(sizesArb, tableArb, (sizes, table) => {
      const g = tableGame(sizes, table);
      const mean = pathways(g.players).reduce((a, p) => a + g.loss(p), 0) / pathways(g.players).length;
      for (const p of pathways(g.players)) {
        const phi = stageShapley(g, p);
        expect(phi.reduce((a, b) => a + b, 0)).toBeCloseTo(mean - g.loss(p), 9);
      }
    }), { numRuns: 40 });
  });

  it("averages a stage's Shapley value over the pathways through a miner to E[L] − E[L | miner], interactions included", () => {
    fc.assert(fc.property(sizesArb, tableArb, (sizes, table) => {
      const g = tableGame(sizes, table);
      const exact = exactContributions(g), all = pathways(g.players);
      g.players.forEach((ms, s) => ms.forEach((m) => {
        const through = all.filter((p) => p[s] === m);
        const avg = through.reduce((a, p) => a + (stageShapley(g, p)[s] as number), 0) / through.length;
        expect(avg).toBeCloseTo(exact[m] as number, 9);
      }));
    }), { numRuns: 30 });
  });

  it("gives interchangeable miners of a stage equal values (symmetry)", () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 2, max: 3 }), { minLength: 2, maxLength: 3 }), tableArb, (sizes, table) => {
      const base = tableGame(sizes, table);
      // s0m1 plays exactly as s0m0: the loss looks s0m0 up instead.
      const g: StageGame = { players: base.players, loss: (p) => base.loss(p.map((m) => (m === "s0m1" ? "s0m0" : m))) };
      const exact = exactContributions(g);
      expect(exact.s0m1).toBeCloseTo(exact.s0m0 as number, 12);
      for (const p of pathways(g.players).filter((q) => q[0] === "s0m0")) {
        expect(stageShapley(g, ["s0m1", ...p.slice(1)])[0]).toBeCloseTo(stageShapley(g, p)[0] as number, 9);
      }
    }), { numRuns: 30 });
  });

  it("gives 0 to the miners of a stage that never changes the loss (null player)", () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 2, maxLength: 3 }), tableArb, (sizes, table) => {
      const base = tableGame(sizes, table);
      const g: StageGame = { players: base.players, loss: (p) => base.loss(p.map((m, s) => (s === 0 ? "s0m0" : m))) };
      const exact = exactContributions(g);
      for (const m of g.players[0] as string[]) expect(exact[m]).toBeCloseTo(0, 12);
      for (const p of pathways(g.players)) expect(stageShapley(g, p)[0]).toBeCloseTo(0, 9);
    }), { numRuns: 30 });
  });

  it("is the stage mean of the effects minus the miner's own in an additive game", () => {
    const theta: Record<string, number> = { a: 0.3, b: -0.1, c: 0.1, x: 0, y: 0.5 };
    const exact = exactContributions({ players: [["a", "b", "c"], ["x", "y"]], loss: (p) => 2 + p.reduce((t, m) => t + (theta[m] as number), 0) });
    expect(Object.keys(exact)).toEqual(["a", "b", "c", "x", "y"]);
    expect(exact.a).toBeCloseTo(0.1 - 0.3, 12);
    expect(exact.b).toBeCloseTo(0.1 + 0.1, 12);
    expect(exact.y).toBeCloseTo(0.25 - 0.5, 12);
  });
});

/** A game of 2–3 stages of 2–4 miners: μ + Σ θ_miner, plus γ·u(π_0)·v(π_1) when it interacts. */
const gameArb = fc.record({
  sizes: fc.array(fc.integer({ min: 2, max: 4 }), { minLength: 2, maxLength: 3 }),
  theta: fc.array(fc.integer({ min: -10, max: 10 }), { minLength: 12, maxLength: 12 }),
  u: fc.array(fc.integer({ min: -5, max: 5 }), { minLength: 8, maxLength: 8 }),
  gamma: fc.constantFrom(0, 0.4),
  seed: fc.string({ maxLength: 6 }),
});

const build = (a: { sizes: number[]; theta: number[]; u: number[]; gamma: number }): StageGame => {
  const players = minersOf(a.sizes);
  const effect = (s: number, j: number): number => (a.theta[(s * 4 + j) % 12] as number) / 20;
  const factor = (s: number, j: number): number => (a.u[(s * 4 + j) % 8] as number) / 5;
  const at = (m: string): [number, number] => [Number(m[1]), Number(m.slice(3))];
  return {
    players,
    loss: (p) => {
      const js = p.map(at);
      const add = js.reduce((t, [s, j]) => t + effect(s, j), 3);
      return add + a.gamma * factor(...(js[0] as [number, number])) * factor(...(js[1] as [number, number]));
    },
  };
};

describe("clasp", () => {
  it("recovers the exact contributions of additive and interacting games, despite a falling loss", () => {
    const noise = 0.1, steps = 1500, perStep = 4;
    let covered = 0, intervals = 0;
    fc.assert(fc.property(gameArb, (a) => {
      const g = build(a), exact = exactContributions(g), all = pathways(g.players);
      // What the additive fit cannot explain counts as noise: the interaction's own variance.
      const mean = all.reduce((t, p) => t + g.loss(p), 0) / all.length;
      const rest = all.reduce((t, p) => t + (g.loss(p) - mean + p.reduce((u, m) => u + (exact[m] as number), 0)) ** 2, 0) / all.length;
      const sigma = Math.sqrt(noise ** 2 + rest);
      const scores = clasp(draw(g, { seed: a.seed, steps, perStep, noise, trend: falling(steps) }), { seed: a.seed });
      const miners = Object.keys(exact);
      for (const m of miners) {
        const s = scores[m], truth = exact[m] as number;
        if (s === undefined) throw new Error(`no score for ${m}`);
        // Two sources of error: the noise of the miner's own samples, and the routing shares (the
        // estimate centres on the shares drawn, the exact value on uniform ones).
        const mates = g.players[s.stage] as string[], share = 1 / mates.length;
        const spread = mates.reduce((t, q) => t + (exact[q] as number) ** 2, 0) / mates.length;
        const se = Math.sqrt((sigma ** 2 * (1 - share)) / s.samples + spread / (steps * perStep));
        expect(Math.abs(s.contribution - truth)).toBeLessThan(5 * se + 0.005);
        intervals++;
        if (s.ci[0] <= truth && truth <= s.ci[1]) covered++;
      }
      // Ranks: every pair the exact values set clearly apart is ordered alike, and with no near-ties
      // the rank correlation is high.
      const est = miners.map((m) => scores[m]?.contribution ?? Number.NaN), truth = miners.map((m) => exact[m] as number);
      let nearTie = false;
      truth.forEach((x, i) => truth.forEach((y, j) => {
        if (i >= j) return;
        if (Math.abs(x - y) < 0.02) nearTie = true;
        else if (Math.abs(x - y) > 0.05) expect(Math.sign((est[i] as number) - (est[j] as number))).toBe(Math.sign(x - y));
      }));
      if (!nearTie && miners.length >= 5) expect(spearman(est, truth)).toBeGreaterThanOrEqual(0.9);
    }), { numRuns: 25 });
    expect(covered / intervals).toBeGreaterThanOrEqual(0.9);
  });

  it("flags a miner that adds 0.5 to the loss of its pathways, and none of the honest ones", () => {
    const players = minersOf([4, 4, 4]);
    const g: StageGame = { players, loss: (p) => 3 + (p[1] === "s1m2" ? 0.5 : 0) };
    const scores = clasp(draw(g, { seed: "harm", steps: 300, perStep: 4, noise: 0.2, trend: falling(300) }), { seed: "harm" });
    expect(scores.s1m2?.flagged).toBe(true);
    expect(scores.s1m2?.contribution).toBeCloseTo(-0.375, 1);
    expect(Object.entries(scores).filter(([, s]) => s.flagged).map(([m]) => m)).toEqual(["s1m2"]);
  });

  it("flags no honest miner in 50 runs where the loss differs only by noise", () => {
    const g: StageGame = { players: minersOf([4, 4, 4]), loss: () => 3 };
    let runsWithFlags = 0;
    for (let k = 0; k < 50; k++) {
      const scores = clasp(draw(g, { seed: `honest-${k}`, steps: 500, perStep: 4, noise: 0.1, trend: falling(500) }), { seed: `honest-${k}` });
      if (Object.values(scores).some((s) => s.flagged)) runsWithFlags++;
    }
    expect(runsWithFlags).toBe(0);
  });

  it("keeps false flags rare in small noisy windows, where the margin δ alone cannot (Holm per stage)", () => {
    // 180 samples, σ = 0.25: an honest miner's standard error (≈ 0.06) dwarfs δ, so each miner is
    // tested near the nominal one-sided 2.5%. Holm keeps that per stage, not per miner: at most
    // about 7.5% of windows over 3 stages (7 here; 11 without the correction). Wider windows or a
    // higher confidence are the cure, not the estimator.
    const g: StageGame = { players: minersOf([4, 4, 4]), loss: () => 3 };
    let windowsWithFlags = 0;
    for (let k = 0; k < 100; k++) {
      const scores = clasp(draw(g, { seed: `small-${k}`, steps: 60, perStep: 3, noise: 0.25 }), { seed: `small-${k}` });
      if (Object.values(scores).some((s) => s.flagged)) windowsWithFlags++;
    }
    expect(windowsWithFlags).toBeLessThanOrEqual(10);
  });

  it("does not credit a late joiner with the fall of the loss before it joined", () => {
    const steps = 1000, players = minersOf([3, 4]);
    const g: StageGame = { players, loss: () => 3 };
    const route = (s: number, step: number): readonly string[] => (s === 1 && step < steps / 2 ? (players[1] as string[]).slice(0, 3) : (players[s] as string[]));
    const samples = draw(g, { seed: "late", steps, perStep: 4, noise: 0.1, trend: falling(steps), route });
    const through = samples.filter((x) => x.pathway[1] === "s1m3"), meanOf = (xs: readonly PathwaySample[]): number => xs.reduce((t, x) => t + x.loss, 0) / xs.length;
    expect(meanOf(samples) - meanOf(through)).toBeGreaterThan(0.2); // what a plain contrast would credit it
    const late = clasp(samples, { seed: "late" }).s1m3;
    expect(late?.samples).toBe(through.length);
    expect(Math.abs(late?.contribution ?? Number.NaN)).toBeLessThan(0.02);
    expect(late?.flagged).toBe(false);
  });

  it("flags a low outlier among its stage-mates even when its interval reaches above −δ", () => {
    // The harmful miner drags its stage's mean up, so its mates score about +0.125 and it −0.375:
    // with δ = 0.34 its interval is not below −δ, but it sits far below the median of its stage.
    const players = minersOf([4, 2]);
    const g: StageGame = { players, loss: (p) => 3 + (p[0] === "s0m3" ? 0.5 : 0) };
    const delta = 0.34;
    const scores = clasp(draw(g, { seed: "outlier-1", steps: 75, perStep: 4, noise: 0.2 }), { seed: "outlier-1", delta });
    const s = scores.s0m3;
    expect(s?.contribution).toBeLessThan(-delta);
    expect(s?.ci[1]).toBeGreaterThanOrEqual(-delta);
    expect(s?.flagged).toBe(true);
    expect(Object.values(scores).filter((x) => x.flagged)).toHaveLength(1);
  });

  it("does not flag a miner with fewer than minSamples samples, however much it harms", () => {
    const players = minersOf([3, 3]);
    const g: StageGame = { players, loss: (p) => 3 + (p[0] === "s0m2" ? 2 : 0) };
    const route = (s: number, step: number): readonly string[] => (s === 0 && step % 100 !== 7 ? (players[0] as string[]).slice(0, 2) : (players[s] as string[]));
    const samples = draw(g, { seed: "few", steps: 400, perStep: 3, noise: 0.05, route });
    const few = clasp(samples, { seed: "few" }).s0m2;
    expect(few?.samples).toBeLessThan(4);
    expect(few?.contribution).toBeLessThan(-1);
    expect(few?.flagged).toBe(false);
  });

  it("gives a miner seen in one bucket an interval as wide as its noise, so its noise alone rarely flags it", () => {
    // Resampling buckets cannot show such a miner's noise (it is in one bucket or none): the normal
    // interval from the residual variance must carry it (without it, 8 of these 40 honest miners were flagged).
    const players = minersOf([3, 3]);
    const g: StageGame = { players, loss: () => 3 };
    const route = (s: number, step: number): readonly string[] => (s === 0 && step !== 200 ? (players[0] as string[]).slice(0, 2) : (players[s] as string[]));
    let flagged = 0;
    for (let k = 0; k < 40; k++) {
      const blip = clasp(draw(g, { seed: `blip-${k}`, steps: 400, perStep: 12, noise: 1, route }), { seed: `blip-${k}` }).s0m2;
      if (blip === undefined) continue; // never routed to
      const se = Math.sqrt((1 - blip.samples / 4800) / blip.samples);
      expect(blip.ci[1] - blip.ci[0]).toBeGreaterThan(2 * 1.96 * se * 0.9);
      if (blip.flagged) flagged++;
    }
    expect(flagged).toBeLessThanOrEqual(3);
  });

  it("scores a stage served by one miner 0 with the interval [0, 0], never flagged", () => {
    const players = [["solo"], ["a", "b", "c"]];
    const g: StageGame = { players, loss: (p) => 3 + (p[1] === "c" ? 0.5 : 0) };
    const scores = clasp(draw(g, { seed: "solo", steps: 200, perStep: 4, noise: 0.1 }), { seed: "solo" });
    expect(scores.solo).toEqual({ stage: 0, contribution: 0, ci: [0, 0], samples: 800, flagged: false });
    expect(scores.c?.flagged).toBe(true);
  });

  it("skips samples with a non-finite loss or step", () => {
    const g: StageGame = { players: minersOf([2, 3]), loss: (p) => 3 + (p[1] === "s1m0" ? 0.2 : 0) };
    const samples = draw(g, { seed: "nan", steps: 100, perStep: 4, noise: 0.1 });
    const dirty = [...samples, { pathway: ["s0m0", "s1m1"], loss: Number.NaN, step: 3 }, { pathway: ["s0m1", "s1m2"], loss: Number.POSITIVE_INFINITY, step: 4 },
      { pathway: ["s0m1", "s1m2"], loss: 1, step: Number.NaN }, { pathway: ["s0m1", "s1m2", "extra"], loss: 1, step: 5 }];
    expect(JSON.stringify(clasp(dirty, { seed: "nan" }))).toBe(JSON.stringify(clasp(samples, { seed: "nan" })));
  });

  it("returns no scores for no samples", () => {
    expect(clasp([], { seed: "empty" })).toEqual({});
    expect(clasp([{ pathway: ["a"], loss: Number.NaN, step: 0 }], { seed: "empty" })).toEqual({});
  });

  it("gives the same bits for the same samples in any order, and lists miners in code-unit order", () => {
    const players = [["b", "a", "Z", "é"], ["y", "x"]];
    const g: StageGame = { players, loss: (p) => 3 + (p[0] === "Z" ? 0.1 : 0) + (p[1] === "x" ? -0.05 : 0) };
    const samples = draw(g, { seed: "order", steps: 150, perStep: 4, noise: 0.1, trend: falling(150) });
    const once = JSON.stringify(clasp(samples, { seed: "s" }));
    expect(JSON.stringify(clasp(samples, { seed: "s" }))).toBe(once);
    expect(JSON.stringify(clasp(shuffled(samples, xoshiro128("shuffle")), { seed: "s" }))).toBe(once);
    expect(Object.keys(JSON.parse(once) as object)).toEqual(["Z", "a", "b", "x", "y", "é"]);
    expect(JSON.stringify(clasp(samples, { seed: "other" }))).not.toBe(once); // the seed drives the bootstrap
  });

  it("scores a miner seen at two stages at the stage where it has most samples", () => {
    const g: StageGame = { players: [["a", "b", "dup"], ["dup", "c"]], loss: () => 3 };
    const scores = clasp(draw(g, { seed: "dup", steps: 100, perStep: 4, noise: 0.1 }), { seed: "dup" });
    expect(scores.dup?.stage).toBe(1);
    expect(scores.dup?.samples).toBeGreaterThan(150);
  });
});
