// `npm run bench -- memory [--reps R]`: what moving bytes costs on this machine, each figure against
// its baseline in the same run: (a) a 1.7 MB copy (a stage's weights) into fresh memory against the
// same copy into memory already written once; (b) stage 0 of the swarm bench's model, forward +
// backward on onnxruntime-node, keeping every activation the backward reads against keeping all but
// the outputs of ops the backward re-runs (savedTensors' RECOMPUTED), with the bytes each forward
// outputs; (c) the CPU a 1.7 MB blob put and a cold read cost the client and the nats-server.
// Writes bench/results/memory.json.
import { mkdirSync, writeFileSync } from "node:fs";
import { connectNats } from "../src/actors/nats/connection.js";
import { natsBlobStore } from "../src/actors/nats/blobs.js";
import { startEmbeddedNats } from "../src/actors/nats/embedded.js";
import { processSeconds } from "../src/actors/swarm/cpu.js";
import { DEFAULT_CONFIG, type GptConfig } from "../src/kernels/model/config.js";
import { initParams } from "../src/kernels/model/params.js";
import { paramFeeds } from "../src/kernels/model/runner.js";
import { buildStage, type StageModels } from "../src/kernels/model/stage.js";
import { KernelSession } from "../src/kernels/runtime/session.js";
import type { Tensor } from "../src/kernels/runtime/tensor.js";
import { filled, outputsOf } from "./tensors.js";

const arg = (args: string[], name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(args[i + 1]) : dflt;
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer`);
  return v;
};

/** The swarm bench's model (bench/swarm.ts): the trainer's default GPT over 2 stages, b = 3. */
const MODEL: GptConfig = { ...DEFAULT_CONFIG, stages: 2, bottleneck: 3 };
/** Floats in the swarm bench's larger stage (1.7 MB). */
const STAGE_FLOATS = 425_000;

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

/** (a) ms per 1.7 MB copy into a fresh buffer each time, and into one written before. */
const copies = (count: number): { fresh: number; mapped: number } => {
  const src = Float32Array.from({ length: STAGE_FLOATS }, (_, i) => Math.sin(i));
  const fresh: Float32Array[] = [];
  let t = performance.now();
  for (let i = 0; i < count; i++) {
    const b = new Float32Array(STAGE_FLOATS);
    b.set(src);
    fresh.push(b); // kept alive, as kept weight versions are: each is new memory
  }
  const freshMs = (performance.now() - t) / count;
  const dst = fresh[0] as Float32Array;
  t = performance.now();
  for (let i = 0; i < count; i++) dst.set(src);
  return { fresh: freshMs, mapped: (performance.now() - t) / count };
};



/** A stage-0 forward + backward on 1 ORT thread, as a miner's kernel worker runs it (outputs preallocated). */
const stageStep = async (m: StageModels) => {
  const params = initParams(MODEL, m.params);
  const ids: Tensor = { dims: m.input.shape, data: Int32Array.from({ length: m.input.shape.reduce((a, b) => a * b, 1) }, (_, i) => (i * 7) % 256) };
  const gy: Tensor = { dims: m.output.shape, data: filled(m.output.shape, 2) };
  const fwd = await KernelSession.create(m.forward.bytes, { threads: 1, provider: "cpu" });
  const bwd = await KernelSession.create(m.backward.bytes, { threads: 1, provider: "cpu" });
  const feeds = { ...paramFeeds(m.params, params), [m.input.name]: ids };
  const fwdOut = outputsOf(m.forward);
  const bwdOut = outputsOf(m.backward);
  return {
    bytes: m.forward.outputs.reduce((a, o) => a + o.shape.reduce((x, y) => x * y, 1) * 4, 0),
    once: async (): Promise<number> => {
      const t = performance.now();
      const f = await fwd.run(feeds, undefined, fwdOut);
      const saved = Object.fromEntries(m.saved.map((s) => [s.name, f[s.name] as Tensor]));
      await bwd.run({ ...feeds, grad_y: gy, ...saved }, undefined, bwdOut);
      return performance.now() - t;
    },
    release: async () => { await fwd.release(); await bwd.release(); },
  };
};

/** (c) CPU ms per MB of a blob put and of a read by another writer's store (no cache), client and server. */
const blobs = async (count: number): Promise<{ put: { client: number; server: number }; read: { client: number; server: number } }> => {
  const nats = await startEmbeddedNats();
  const nc = await connectNats(nats.url, "bench-memory");
  try {
    const a = await natsBlobStore(nc, "bench-memory", { writer: "a" });
    const b = await natsBlobStore(nc, "bench-memory", { writer: "b", cacheBytes: 0 });
    const serverCpu = (): number => {
      const s = processSeconds(nats.pid);
      if (s === undefined) throw new Error(`cannot read nats-server's CPU from /proc/${nats.pid}/stat`);
      return s * 1000;
    };
    const mb = (count * STAGE_FLOATS * 4) / 1e6;
    const blobsToPut = Array.from({ length: count }, (_, i) => {
      const x = new Uint8Array(STAGE_FLOATS * 4);
      for (let j = 0; j < x.length; j += 4096) x[j] = (i + j) % 251;
      x[0] = i;
      return x;
    });
    const measure = async (f: () => Promise<void>): Promise<{ client: number; server: number }> => {
      const c0 = process.cpuUsage();
      const s0 = serverCpu();
      await f();
      const c = process.cpuUsage(c0);
      return { client: (c.user + c.system) / 1000 / mb, server: (serverCpu() - s0) / mb };
    };
    const refs: string[] = [];
    const put = await measure(async () => { for (const x of blobsToPut) refs.push(await a.put(x)); });
    const read = await measure(async () => { for (const r of refs) await b.read(r); });
    return { put, read };
  } finally {
    await nc.drain().catch(() => undefined);
    await nats.stop();
  }
};

export const run = async (args: string[]): Promise<void> => {
  const reps = arg(args, "reps", 3);
  const log = (s: string): void => { process.stderr.write(`${s}\n`); };
  const r2 = (x: number): number => Math.round(x * 100) / 100;
  const r3 = (x: number): number => Math.round(x * 1000) / 1000;

  const copy = Array.from({ length: reps }, () => copies(40));
  const freshMs = median(copy.map((c) => c.fresh));
  const mappedMs = median(copy.map((c) => c.mapped));
  log(`1.7 MB copy: ${freshMs.toFixed(2)} ms into fresh memory, ${mappedMs.toFixed(3)} ms into memory written before`);

  const keepAll = await stageStep(buildStage(MODEL, 0, { activations: "keep", recompute: new Set() }));
  const keepCheap = await stageStep(buildStage(MODEL, 0, { activations: "keep" }));
  const allMs: number[] = [];
  const cheapMs: number[] = [];
  for (let i = 0; i < 3; i++) { await keepAll.once(); await keepCheap.once(); }
  // Alternated, so both see the same machine.
  for (let i = 0; i < 10 * reps; i++) {
    allMs.push(await keepAll.once());
    cheapMs.push(await keepCheap.once());
  }
  await keepAll.release();
  await keepCheap.release();
  const all = median(allMs);
  const cheap = median(cheapMs);
  log(`stage 0 forward+backward: ${all.toFixed(1)} ms keeping every activation (${(keepAll.bytes / 1e6).toFixed(1)} MB out per forward), ${cheap.toFixed(1)} ms re-running Gelu/LayerNormalization (${(keepCheap.bytes / 1e6).toFixed(1)} MB)`);

  const blob = await blobs(20);
  log(`1.7 MB blob put: ${blob.put.client.toFixed(1)} ms client + ${blob.put.server.toFixed(1)} ms nats-server CPU per MB; cold read: ${blob.read.client.toFixed(1)} + ${blob.read.server.toFixed(1)}`);

  const out = {
    ratios: {
      fresh_vs_mapped_copy: r2(freshMs / mappedMs),
      stage0_step_keep_all_vs_recompute_cheap: r3(all / cheap),
      stage0_forward_output_bytes_keep_all_vs_recompute_cheap: r3(keepAll.bytes / keepCheap.bytes),
    },
    figures: {
      copy_ms_per_stage: { fresh: r3(freshMs), mapped: r3(mappedMs), stage_mb: r2((STAGE_FLOATS * 4) / 1e6) },
      stage0_step_ms: { keep_all: r2(all), recompute_cheap: r2(cheap) },
      stage0_forward_output_mb: { keep_all: r2(keepAll.bytes / 1e6), recompute_cheap: r2(keepCheap.bytes / 1e6) },
      blob_cpu_ms_per_mb: { put: { client: r2(blob.put.client), server: r2(blob.put.server) }, cold_read: { client: r2(blob.read.client), server: r2(blob.read.server) } },
      model: { ...MODEL, stage: 0, ortThreads: 1 },
      reps,
    },
  };
  mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
  writeFileSync(new URL("./results/memory.json", import.meta.url), `${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(out.ratios)}\nwrote bench/results/memory.json\n`);
};
