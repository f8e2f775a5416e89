// Host-side merge arithmetic: two reducers of a partition store identical bytes (plain and DiLoCo),
// an outer step starts from the stage's initial weights then from the previous result, and a
// miner's learning rate warms up over its own steps without changing the one-miner schedule.
import { describe, expect, it } from "vitest";
import { memoryBlobStore, f32ToBytes, getF32 } from "../../../src/actors/swarm/blob-store.js";
import { putPartitions, reducePartition } from "../../../src/actors/swarm/merge-io.js";
import { swarmLr } from "../../../src/actors/swarm/model.js";
import { buildRunConfig, swarmModelOf } from "../../../src/actors/swarm/run-config.js";
import { outerStep, partitionBounds, unpackOuter, weightedAverage } from "../../../src/machines/protocol/index.js";
import type { ReduceTask } from "../../../src/machines/worker/index.js";
import { type LrSchedule, localStepLr, lrScheduleOf } from "../../../src/machines/protocol/index.js";

/** No blob here is forged: a report is a bug in the test. */
const fail = (e: Error): never => {
  throw e;
};
const put = async (blobs: ReturnType<typeof memoryBlobStore>, xs: number[]) => blobs.put(f32ToBytes(Float32Array.from(xs)));

describe("bfloat16 snapshots (run config v6)", () => {
  it("rounds the sender's snapshot in place, stores 2 bytes a value, and reduces the widened values", async () => {
    const blobs = memoryBlobStore();
    const snapA = Float32Array.of(1 + 2 ** -8, 0.1, -3.3, 7, 2 ** -130);
    const snapB = Float32Array.of(2, 0.2, 1 + 3 * 2 ** -8, -7, 5);
    const refsA = await putPartitions(blobs, snapA, 2, "bf16");
    const refsB = await putPartitions(blobs, snapB, 2, "bf16");
    // The kept snapshot (the overlap base) now holds exactly the values the reducers will read.
    expect(snapA[0]).toBe(1);
    expect(snapB[2]).toBe(1 + 2 ** -6);
    const parts = partitionBounds(5, 2);
    for (const [i, q] of parts.entries()) expect((await blobs.get(refsA[i] as string))?.byteLength).toBe((q.end - q.start) * 2);
    const task = (i: number, codec?: "bf16"): ReduceTask => ({
      merge: "g", stage: 0, partition: i, reducers: ["a", "b"], ...(codec === undefined ? {} : { codec }),
      contributors: [{ miner: "a", samples: 1, ref: refsA[i] as string }, { miner: "b", samples: 3, ref: refsB[i] as string }],
    });
    for (const [i, q] of parts.entries()) {
      const got = await getF32(blobs, await reducePartition(blobs, task(i, "bf16"), fail));
      const want = weightedAverage([{ miner: "a", samples: 1, data: snapA.slice(q.start, q.end) }, { miner: "b", samples: 3, data: snapB.slice(q.start, q.end) }]);
      expect([...got]).toEqual([...want]);
    }
    // Read as float32 (a v1-v5 run's codec) the same bytes are not the snapshot: the codec matters.
    const asF32 = await reducePartition(blobs, task(0), fail).catch(() => "refused");
    expect(asF32).not.toBe(await reducePartition(blobs, task(0, "bf16"), fail));
  });

  it("leaves a float32 snapshot as it was", async () => {
    const blobs = memoryBlobStore();
    const snap = Float32Array.of(1 + 2 ** -8, 0.1);
    const [ref] = await putPartitions(blobs, snap, 1);
    expect(snap[0]).toBe(1 + 2 ** -8);
    expect([...(await getF32(blobs, ref as string))]).toEqual([...snap]);
  });
});

describe("reducePartition", () => {
  it("stores the same bytes for both reducers, and the outer step from the initial weights' slice", async () => {
    const blobs = memoryBlobStore();
    const initial = await put(blobs, [9, 9, 1, 2, 3, 9]);
    const a = await put(blobs, [1.5, 2, 2]);
    const b = await put(blobs, [0.5, 3, 5]);
    const contributors = [{ miner: "a", samples: 2, ref: a }, { miner: "b", samples: 1, ref: b }];
    const plain: ReduceTask = { merge: "g", stage: 0, partition: 1, reducers: ["a", "b"], contributors };
    const h1 = await reducePartition(blobs, plain, fail);
    expect(await reducePartition(blobs, { ...plain, contributors: [...contributors].reverse() }, fail)).toBe(h1);
    const mean = weightedAverage([{ miner: "a", samples: 2, data: Float32Array.of(1.5, 2, 2) }, { miner: "b", samples: 1, data: Float32Array.of(0.5, 3, 5) }]);
    expect([...(await getF32(blobs, h1))]).toEqual([...mean]);

    const rule = { lr: 0.7, momentum: 0.9 };
    const first: ReduceTask = { ...plain, outer: { ...rule, previous: null, initial, start: 2, end: 5 } };
    const r1 = await reducePartition(blobs, first, fail);
    expect(await reducePartition(blobs, { ...first, contributors: [...contributors].reverse() }, fail)).toBe(r1);
    const want1 = outerStep(rule, Float32Array.of(1, 2, 3), null, mean);
    const got1 = unpackOuter(await getF32(blobs, r1), 3);
    expect([...got1.params]).toEqual([...want1.params]);
    expect([...got1.momentum]).toEqual([...want1.momentum]);

    const second: ReduceTask = { ...first, merge: "g2", outer: { ...rule, previous: r1, initial, start: 2, end: 5 } };
    const got2 = unpackOuter(await getF32(blobs, await reducePartition(blobs, second, fail)), 3);
    const want2 = outerStep(rule, want1.params, want1.momentum, mean);
    expect([...got2.params]).toEqual([...want2.params]);
  });

  it("fails rather than guessing when the previous result is missing", async () => {
    const blobs = memoryBlobStore();
    const a = await put(blobs, [1]);
    const initial = await put(blobs, [0]);
    const task: ReduceTask = { merge: "g", stage: 0, partition: 0, reducers: ["a", "b"], contributors: [{ miner: "a", samples: 1, ref: a }], outer: { lr: 1, momentum: 0, previous: "f".repeat(64), initial, start: 0, end: 1 } };
    await expect(reducePartition(blobs, task, fail)).rejects.toThrow(/not in the store/);
  });
});

describe("localStepLr (the worker's rule, pinned to the trainer's schedule)", () => {
  const model = swarmModelOf({ seed: 1, microbatches: 300 });
  const schedule = lrScheduleOf({ model } as unknown as Parameters<typeof lrScheduleOf>[0]) as LrSchedule;

  it("equals the run's schedule when a miner takes every step (one miner per stage)", () => {
    for (let t = 0; t < 300; t++) expect(localStepLr(schedule, t, t)).toBe(swarmLr(model, t));
  });

  it("ramps a miner's first steps even when the run is past its warmup (a joiner, or one of K)", () => {
    const w = model.optim.warmup;
    expect(localStepLr(schedule, 0, 100)).toBe(swarmLr(model, 0));
    expect(localStepLr(schedule, w - 1, 100)).toBeLessThanOrEqual(swarmLr(model, 100));
    expect(localStepLr(schedule, w, 100)).toBe(swarmLr(model, 100));
    expect(localStepLr({ ...schedule, localWarmup: false }, 0, 100)).toBe(swarmLr(model, 100));
  });
});

describe("run config", () => {
  it("records the outer step, local warmup and deferred steps, and leaves them out where they do not apply", async () => {
    const blobs = memoryBlobStore();
    const c = await buildRunConfig({ run: "r", orchestrator: "o", blobs, settings: { seed: 1, microbatches: 10, outer: { lr: 0.7, momentum: 0.9 } } });
    expect(c.outer).toEqual({ lr: 0.7, momentum: 0.9 });
    expect(c.model).toMatchObject({ optim: { localWarmup: true, deferWhileInFlight: true } });
    const sync = await buildRunConfig({ run: "r", orchestrator: "o", blobs, settings: { seed: 1, microbatches: 10, sync: true, outer: { lr: 0.7, momentum: 0.9 } } });
    expect(sync).not.toHaveProperty("outer");
    const plain = await buildRunConfig({ run: "r", orchestrator: "o", blobs, settings: { seed: 1, microbatches: 10 } });
    expect(plain).not.toHaveProperty("outer");
  });
});
