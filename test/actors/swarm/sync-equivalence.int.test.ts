// With one miner per stage, no compression, the same seed and a synchronous schedule, the swarm's
// per-microbatch loss trajectory equals the trainer's (`swarmline train`'s loop) on the same data.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runSwarmSim, type SimResult } from "../../../src/actors/swarm/sim-run.js";
import { startEmbeddedNats, type EmbeddedNats } from "../../../src/actors/nats/testing.js";
import { sotuCorpus } from "../../../src/kernels/data/corpus.js";
import { DEFAULT_CONFIG, type GptConfig } from "../../../src/kernels/model/config.js";
import { DEFAULT_TRAIN, type TrainOptions } from "../../../src/kernels/train/options.js";
import { poolRun } from "../../../src/kernels/train/pool-run.js";
import { train } from "../../../src/kernels/train/trainer.js";
import { batchFor } from "../../../src/machines/protocol/index.js";

const SEED = 3;
const STEPS = 8;
const gpt: GptConfig = { ...DEFAULT_CONFIG, stages: 3, nLayer: 3, dModel: 32, nHead: 2, seq: 16, batch: 4, seed: SEED, bottleneck: null };
// Clipping is per stage in a swarm (a miner sees only its stage's gradients), global in the
// trainer: with clipping off both apply the very same AdamW update.
const CLIP = 1e9;

const trainLosses = async (stages: number): Promise<number[]> => {
  const o: TrainOptions = { ...DEFAULT_TRAIN, model: { ...gpt, stages }, steps: STEPS, clipNorm: CLIP, dataSeed: SEED, evalEvery: 1000, evalBatches: 1, quant: "fp32", threads: 1 };
  const rt = await poolRun(1);
  const losses: number[] = [];
  try {
    await train(o, sotuCorpus(), rt.run, { onStep: (e) => losses.push(e.loss), batchId: (t) => batchFor(String(SEED), t, 1 << 20) });
  } finally {
    await rt.release();
  }
  return losses;
};

describe("swarmline sim --sync", () => {
  let nats: EmbeddedNats;
  let swarm: SimResult;
  beforeAll(async () => {
    nats = await startEmbeddedNats();
    swarm = await runSwarmSim({
      nats: nats.url, seed: SEED, miners: 3, microbatches: STEPS, sync: true, gpt, quant: "fp32", clipNorm: CLIP, evalEvery: 1000, evalBatches: 1, workers: 1, threads: 1,
    });
  });
  afterAll(() => nats.stop());

  it("completes every microbatch once, with one miner per stage and no merges", () => {
    expect(swarm.microbatches).toEqual({ issued: STEPS, completed: STEPS, reissued: 0, lost: 0 });
    expect(swarm.merges.done).toBe(0);
    expect(swarm.violations).toEqual([]);
    expect(swarm.losses).toHaveLength(STEPS);
  });

  it("follows the trainer's stage pipeline loss for loss, bit for bit", async () => {
    const ref = await trainLosses(3);
    expect(ref).toHaveLength(STEPS);
    // Same stage models, same data, same AdamW arithmetic, lossless fp32 wire: the same bytes.
    expect(swarm.losses).toEqual(ref);
    // The trajectory really moves: equality is not two flat lines.
    expect((ref[0] as number) - (ref[STEPS - 1] as number)).toBeGreaterThan(0.05);
  });

  it("equals the fused monolithic model's trajectory to float tolerance", async () => {
    const ref = await trainLosses(1);
    for (let i = 0; i < STEPS; i++) expect(Math.abs((swarm.losses[i] as number) - (ref[i] as number))).toBeLessThan(1e-4);
  });
});
