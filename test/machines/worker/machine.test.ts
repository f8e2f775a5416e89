import { createActor } from "xstate";
import { describe, expect, it } from "vitest";
import type { SwarmFact } from "../../../src/events/swarm/index.js";
import { evolve, initialState, type OrchestratorState } from "../../../src/machines/orchestrator/index.js";
import { type Effect, workerMachine } from "../../../src/machines/worker/index.js";
import { config, LogBuilder, ORCH } from "../orchestrator/gwt.js";

/** A worker fed from a LogBuilder; its effects are collected, its published facts appended as its own. */
const harness = (me: string) => {
  const log = new LogBuilder();
  let view: OrchestratorState = initialState();
  let fed = 0;
  const effects: Effect[] = [];
  const actor = createActor(workerMachine, { input: { me, session: "s0", throughput: 2 } });
  actor.on("*", (e) => { effects.push(e as Effect); });
  actor.start();
  const feed = (): void => {
    while (fed < log.facts.length) {
      const f = log.facts[fed++] as SwarmFact;
      view = evolve(view, f);
      actor.send({ type: "fact", fact: f, view });
    }
    // Append what the worker published, then feed those back too.
    for (let e = effects.findIndex((x) => x.type === "publish"); e >= 0; e = effects.findIndex((x) => x.type === "publish")) {
      const [p] = effects.splice(e, 1);
      if (p?.type === "publish") log.facts.push({ ...p.params, actor: me, seq: log.facts.filter((x) => x.actor === me).length + 1 } as SwarmFact);
      feed();
    }
  };
  return { log, effects, actor, feed, published: () => log.facts.filter((f) => f.actor === me) };
};

describe("stage worker machine", () => {
  it("joins once the run is known, loads its assigned weights and reports them", () => {
    const h = harness("a");
    h.log.run({ type: "StartRun", config: config({}, 2) });
    h.feed();
    expect(h.published().map((f) => f.type)).toEqual(["MinerJoined"]);
    h.log.run({ type: "Advance" });
    h.feed();
    expect(h.effects).toContainEqual({ type: "loadWeights", params: { stage: 0, ref: "w0", epoch: 0 } });
    h.actor.send({ type: "weights.loaded", stage: 0, epoch: 0, ref: "w0" });
    h.feed();
    expect(h.published().map((f) => f.type)).toEqual(["MinerJoined", "WeightsLoaded"]);
    expect(h.actor.getSnapshot().value).toBe("training");
  });

  it("runs forward on its lease once, even when the lease is redelivered, and forwards to the seeded peer", () => {
    const h = harness("a");
    h.log.run({ type: "StartRun", config: config({}, 2) });
    h.feed();
    h.log.run({ type: "Advance" });
    h.feed();
    h.actor.send({ type: "weights.loaded", stage: 0, epoch: 0, ref: "w0" });
    h.feed();
    h.log.join("b"); // stage 1
    h.log.run({ type: "Advance" }); // pipeline ready: lease to a
    h.feed();
    const lease = h.log.facts.find((f) => f.type === "MicrobatchLeased")!;
    h.actor.send({ type: "fact", fact: lease, view: h.log.facts.reduce(evolve, initialState()) }); // redelivery
    const forwards = h.effects.filter((e) => e.type === "forward");
    expect(forwards).toHaveLength(1);
    h.actor.send({ type: "forward.done", lease: lease.id, stage: 0, ref: "act0", bytes: 64, weights: "w0" });
    h.feed();
    const fwd = h.published().find((f) => f.type === "ActivationsForwarded");
    expect(fwd?.type === "ActivationsForwarded" && fwd.payload).toMatchObject({ lease: lease.id, stage: 0, to: "b", ref: "act0", bytes: 64, weights: "w0" });
  });

  it("holds work while its stage merges, unless merges overlap training", () => {
    const forwardsWhileMerging = (overlapMerges: boolean): number => {
      const h = harness("a");
      h.log.run({ type: "StartRun", config: config({ mergeEvery: 0, bMin: 0, maxInFlight: 2, heartbeatTimeoutTicks: 100, overlapMerges }, 1) });
      h.feed();
      h.log.run({ type: "Advance" });
      h.feed();
      h.actor.send({ type: "weights.loaded", stage: 0, epoch: 0, ref: "w0" });
      h.feed();
      h.log.join("b"); // a second miner of stage 0: the merge starts at once (mergeEvery 0)
      h.log.run({ type: "Advance" });
      h.log.run({ type: "Advance" });
      h.feed();
      expect(h.actor.getSnapshot().value).toEqual({ merging: "exchanging" });
      h.effects.length = 0;
      const next = h.log.facts.reduce(evolve, initialState()).nextMicrobatch;
      h.log.add(ORCH, "MicrobatchLeased", { microbatch: next, batch: 3, attempt: 0, miner: "a", expires: 50 }); // a lease arrives mid-merge
      h.feed();
      return h.effects.filter((e) => e.type === "lastStage").length;
    };
    expect(forwardsWhileMerging(false)).toBe(0);
    expect(forwardsWhileMerging(true)).toBeGreaterThan(0);
  });

  it("sends to a merge that started while it was still loading the previous merge's result, once the load lands", () => {
    const h = harness("a");
    h.log.run({ type: "StartRun", config: config({}, 1) });
    h.feed();
    h.log.run({ type: "Advance" });
    h.feed();
    h.actor.send({ type: "weights.loaded", stage: 0, epoch: 0, ref: "w0" });
    h.feed();
    const reducers = [["a"], ["a"]];
    h.actor.send({ type: "merge.started", merge: "m1", participant: true, partitions: 2, reducers });
    h.actor.send({ type: "merge.completed", merge: "m1", epoch: 1, results: ["r0", "r1"] });
    expect(h.actor.getSnapshot().value).toEqual({ merging: "loading" });
    // The orchestrator starts the next merge as soon as m1 completed; this miner still loads m1's result.
    h.actor.send({ type: "merge.started", merge: "m2", participant: true, partitions: 2, reducers });
    expect(h.effects.filter((e) => e.type === "sendPartitions").map((e) => e.params.merge)).toEqual(["m1"]);
    h.actor.send({ type: "weights.loaded", stage: 0, epoch: 1, ref: "w1" });
    h.feed();
    expect(h.effects.filter((e) => e.type === "sendPartitions").map((e) => e.params.merge)).toEqual(["m1", "m2"]);
    expect(h.actor.getSnapshot().value).toEqual({ merging: "exchanging" });
    expect(h.actor.getSnapshot().context.merge).toBe("m2");
    expect(h.published().filter((f) => f.type === "WeightsLoaded").map((f) => f.type === "WeightsLoaded" && f.payload.epoch)).toEqual([0, 1]);
    // m2 completes like any merge, and the miner trains again after loading its result.
    h.actor.send({ type: "merge.completed", merge: "m2", epoch: 2, results: ["s0", "s1"] });
    h.actor.send({ type: "weights.loaded", stage: 0, epoch: 2, ref: "w2" });
    expect(h.actor.getSnapshot().value).toBe("training");
  });

  it("loads the stage's freshest weights and the AdamW state a peer stored with them", () => {
    const h = harness("a");
    h.log.run({ type: "StartRun", config: config({}, 1) });
    h.log.join("b");
    h.log.add("b", "WeightsLoaded", { stage: 0, epoch: 4, ref: "w-epoch4", optimizer: "adam-epoch4" });
    h.feed();
    h.log.run({ type: "Advance" });
    h.feed();
    expect(h.effects).toContainEqual({ type: "loadWeights", params: { stage: 0, ref: "w-epoch4", epoch: 4, optimizer: "adam-epoch4" } });
    // Its own WeightsLoaded names an optimizer state only when it stored one.
    h.actor.send({ type: "weights.loaded", stage: 0, epoch: 4, ref: "w-epoch4" });
    h.feed();
    const own = h.published().find((f) => f.type === "WeightsLoaded");
    expect(own?.type === "WeightsLoaded" && own.payload).toEqual({ stage: 0, epoch: 4, ref: "w-epoch4" });
  });

  it("stores its weights every mergeEvery backward passes while it serves its stage alone, and only then", () => {
    const stores = (peers: number): number => {
      const h = harness("a");
      h.log.run({ type: "StartRun", config: config({ mergeEvery: 2, maxInFlight: 1 }, 1) });
      h.feed();
      h.log.run({ type: "Advance" });
      h.feed();
      h.actor.send({ type: "weights.loaded", stage: 0, epoch: 0, ref: "w0" });
      h.feed();
      for (let i = 0; i < peers; i++) h.log.join(`p${i}`);
      for (let mb = 0; mb < 4; mb++) {
        const next = h.log.facts.reduce(evolve, initialState()).nextMicrobatch;
        h.log.add(ORCH, "MicrobatchLeased", { microbatch: next, batch: mb, attempt: 0, miner: "a", expires: 50 });
        h.feed();
        const lease = h.log.facts[h.log.facts.length - 1]!;
        h.actor.send({ type: "loss.done", lease: lease.id, stage: 0, loss: 2, tokens: 8, ref: "", bytes: 0, weights: null });
        h.feed();
      }
      return h.effects.filter((e) => e.type === "storeWeights").length;
    };
    expect(stores(0)).toBe(2); // 4 backward passes alone, mergeEvery 2
    expect(stores(1)).toBe(0); // a peer on the stage: merges name its weights
    const h = harness("a");
    h.log.run({ type: "StartRun", config: config({}, 1) });
    h.feed();
    h.actor.send({ type: "weights.stored", stage: 0, epoch: 3, ref: "w-trained" });
    h.feed();
    const f = h.published().find((x) => x.type === "WeightsLoaded");
    expect(f?.type === "WeightsLoaded" && f.payload).toEqual({ stage: 0, epoch: 3, ref: "w-trained" });
  });

  it("decides each optimizer step itself: the leases it averages and the learning rate of the run's schedule, recorded in OptimizerStepped", () => {
    const h = harness("a");
    const optim = { lr: 0.01, warmup: 4, minLrRatio: 0.1, steps: 10, localWarmup: true, deferWhileInFlight: true };
    h.log.run({ type: "StartRun", config: { ...config({ microbatchesPerStep: 2, maxInFlight: 2 }, 1), model: { optim } } });
    h.feed();
    h.log.run({ type: "Advance" });
    h.feed();
    h.actor.send({ type: "weights.loaded", stage: 0, epoch: 0, ref: "w0" });
    h.feed();
    const leases: string[] = [];
    for (let mb = 0; mb < 2; mb++) {
      h.log.add(ORCH, "MicrobatchLeased", { microbatch: mb, batch: mb, attempt: 0, miner: "a", expires: 50 });
      h.feed();
      const lease = h.log.facts[h.log.facts.length - 1]!;
      leases.push(lease.id);
      h.actor.send({ type: "loss.done", lease: lease.id, stage: 0, loss: 2, tokens: 8, ref: "", bytes: 0, weights: `v${mb}` });
      h.feed();
    }
    const steps = h.effects.filter((e) => e.type === "stepOptimizer");
    // Its first step: warmed up over its own steps (lr·1/warmup), over exactly the two leases.
    expect(steps).toEqual([{ type: "stepOptimizer", params: { stage: 0, step: 1, leases, lr: 0.01 / 4 } }]);
    h.actor.send({ type: "step.done", step: 1, leases, lr: 0.01 / 4 });
    h.feed();
    const f = h.published().find((x) => x.type === "OptimizerStepped");
    expect(f?.type === "OptimizerStepped" && f.payload).toEqual({ stage: 0, step: 1, microbatches: 2, leases, lr: 0.01 / 4 });
    const loss = h.published().find((x) => x.type === "LossComputed");
    expect(loss?.type === "LossComputed" && loss.payload.weights).toBe("v0");
  });

  it("opens the weights a validator's spot check names, once per check", () => {
    const h = harness("a");
    h.log.run({ type: "StartRun", config: config({}, 1) });
    h.feed();
    const check = { miner: "a", kind: "loss" as const, stage: 0, subject: "l1", partition: null, weights: "v7" };
    h.log.add("val", "SpotChecksDrawn", { window: 0, beacon: "b", checks: [check, { ...check, miner: "b" }] });
    h.feed();
    h.log.facts.push({ ...(h.log.facts[h.log.facts.length - 1] as SwarmFact) }); // redelivered
    h.feed();
    const draw = h.log.facts.find((x) => x.type === "SpotChecksDrawn")!;
    expect(h.effects.filter((e) => e.type === "openWeights")).toEqual([{ type: "openWeights", params: { weights: "v7", check: `${draw.id}#0` } }]);
    h.actor.send({ type: "weights.opened", weights: "v7", check: `${draw.id}#0`, ok: true });
    h.feed();
    const opened = h.published().find((x) => x.type === "WeightsOpened");
    expect(opened?.type === "WeightsOpened" && opened.cause).toEqual([draw.id]);
  });

  it("stops for good when it is timed out or kicked", () => {
    const h = harness("a");
    h.log.run({ type: "StartRun", config: config({}, 1) });
    h.feed();
    h.log.run({ type: "KickMiner", miner: "a" });
    h.feed();
    expect(h.actor.getSnapshot().status).toBe("done");
  });
});
