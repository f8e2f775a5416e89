// Versions of the parameter sets in a pool's workers: each run that reads a set reports the content
// hash of the exact weights it read (a blob ref), and the set keeps its last few such versions so a
// miner can open the weights a spot-checked forward or step used.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { blobRef, f32ToBytes } from "../../../src/actors/swarm/blob-store.js";
import { batch } from "../../../src/kernels/data/batches.js";
import { sotuCorpus } from "../../../src/kernels/data/corpus.js";
import { DEFAULT_CONFIG, type GptConfig } from "../../../src/kernels/model/config.js";
import { initParams, modelParamSpecs } from "../../../src/kernels/model/params.js";
import { ResidentStage } from "../../../src/kernels/model/resident.js";
import { buildStage, type StageModels } from "../../../src/kernels/model/stage.js";
import { matmulModel } from "../../../src/kernels/runtime/matmul-model.js";
import { KernelPool } from "../../../src/kernels/runtime/pool.js";
import { f32, type Tensor } from "../../../src/kernels/runtime/tensor.js";

const bytes = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const vals = (d: Tensor["data"] | undefined): number[] => (d === undefined ? [] : Array.from(d, Number));
/** Y = A·B for 2x2 row-major matrices, as the matmul model computes it (exact on these small integers). */
const mm2 = (a: Float32Array, b: Float32Array): number[] => [0, 1, 2, 3].map((i) => {
  const r = Math.floor(i / 2);
  const c = i % 2;
  return (a[2 * r] as number) * (b[c] as number) + (a[2 * r + 1] as number) * (b[2 + c] as number);
});

describe("parameter set versions in a pool", () => {
  let pool: KernelPool;
  beforeAll(async () => {
    pool = await KernelPool.create({ workers: 2, threadsPerWorker: 1 });
  });
  afterAll(() => pool.close());

  describe("on a matmul whose B is a parameter set", () => {
    const spec = { tensors: [{ name: "B", dims: [2, 2] }] };
    const create = { sizes: [4], config: { lr: 0.1, weightDecay: 0, clipNorm: 1 }, decay: [false] };
    const A = Float32Array.of(1, 2, 3, 4);
    const B0 = Float32Array.of(1, -1, 2, 0.5);
    const loaded = async (key: string, keep?: number): Promise<void> => {
      await pool.load(`${key}:mm`, matmulModel(2, 2, 2));
      await pool.setParams(key, spec, B0, { colocate: `${key}:mm`, ...(keep === undefined ? {} : { keep }) });
    };
    const read = (key: string) => pool.runVersioned(`${key}:mm`, { A: f32([2, 2], A.slice()) }, ["Y"], { params: key });
    /** One optimizer step over the gradient Y (a run that sums its output into B). */
    const stepped = async (key: string): Promise<string> => {
      await pool.run(`${key}:mm`, { A: f32([2, 2], A.slice()) }, [], { params: key, accumulate: { set: key, outputs: { Y: "B" } } });
      return (await pool.optimize(key, { microbatches: 1, lr: 0.1, create })).version;
    };

    it("names a set's weights by the blob ref of getParams' bytes, changed by a step, a blend or a load and stable otherwise", async () => {
      await loaded("v");
      const v0 = await pool.paramsVersion("v");
      expect(v0).toBe(blobRef(f32ToBytes(await pool.getParams("v"))));
      expect(v0).toBe(blobRef(f32ToBytes(B0)));
      expect(await pool.paramsVersion("v")).toBe(v0);
      await pool.run("v:mm", { A: f32([2, 2], A.slice()) }, [], { params: "v", accumulate: { set: "v", outputs: { Y: "B" } } });
      expect(await pool.paramsVersion("v")).toBe(v0); // summed gradients leave the weights alone
      const v1 = (await pool.optimize("v", { microbatches: 1, lr: 0.1, create })).version;
      expect(v1).not.toBe(v0);
      expect(v1).toBe(blobRef(f32ToBytes(await pool.getParams("v"))));
      expect(await pool.paramsVersion("v")).toBe(v1);
      await pool.blendParams("v", [{ start: 1, values: Float32Array.of(3) }]);
      const v2 = await pool.paramsVersion("v");
      expect(v2).not.toBe(v1);
      expect(v2).toBe(blobRef(f32ToBytes(await pool.getParams("v"))));
      await pool.setParams("v", spec, B0);
      expect(await pool.paramsVersion("v")).toBe(v0);
      await pool.forgetParams("v");
      await expect(pool.paramsVersion("v")).rejects.toMatchObject({ reason: "unknown-model" });
    });

    it("blends over a base into the merge's consensus, which the base's own buffer carries back (a view of a larger buffer is copied instead)", async () => {
      await loaded("c");
      await pool.setParams("c", spec, Float32Array.of(10, 20, 30, 40));
      // Sent at 1, 2, 3, 4; trained since to 10, 20, 30, 40; the merge's results for [1, 3): 5, 6.
      const base = Float32Array.of(1, 2, 3, 4);
      const consensus = await pool.blendParams("c", [{ start: 1, values: Float32Array.of(5, 6) }], base);
      expect(Array.from(consensus)).toEqual([1, 5, 6, 4]);
      expect(base.length).toBe(0); // moved to the worker and back as the consensus
      expect(Array.from(await pool.getParams("c"))).toEqual([10, 5 + 18, 6 + 27, 40]);
      const within = new Float32Array(8).fill(1);
      const view = within.subarray(4, 8);
      const again = await pool.blendParams("c", [{ start: 0, values: Float32Array.of(2) }], view);
      expect(Array.from(again)).toEqual([2, 1, 1, 1]);
      expect(Array.from(view)).toEqual([1, 1, 1, 1]); // the caller's buffer is left as it was
      await pool.forgetParams("c");
    });

    it("reports the version a run read, and null for a run that reads no set", async () => {
      await loaded("r");
      const r = await read("r");
      expect(r.version).toBe(await pool.paramsVersion("r"));
      expect(vals(r.outputs["Y"]?.data)).toEqual(mm2(A, B0));
      const plain = await pool.runVersioned("r:mm", { A: f32([2, 2], A.slice()), B: f32([2, 2], B0.slice()) }, ["Y"]);
      expect(plain.version).toBeNull();
      await pool.forgetParams("r");
    });

    it("reports the weights a run read even when a blend is sent right behind it", async () => {
      await loaded("race");
      const before = await pool.paramsVersion("race");
      // Both requests reach the worker together; the run must read (and name) the weights before the blend.
      const ran = read("race");
      const blended = pool.blendParams("race", [{ start: 0, values: Float32Array.of(100, 100, 100, 100) }]);
      const [r] = await Promise.all([ran, blended]);
      expect(r.version).toBe(before);
      expect(vals(r.outputs["Y"]?.data)).toEqual(mm2(A, B0));
      expect(bytes((await pool.openParams("race", before)) as Float32Array).equals(bytes(B0))).toBe(true);
      await pool.forgetParams("race");
    });

    it("opens the exact bytes of an older version, and nothing beyond `keep` versions", async () => {
      await loaded("k", 2);
      const copies: { version: string; weights: Float32Array }[] = [];
      for (let i = 0; i < 3; i++) {
        const weights = await pool.getParams("k");
        const { version } = await read("k");
        copies.push({ version: version as string, weights });
        await stepped("k");
      }
      const [a, b, c] = copies as [(typeof copies)[0], (typeof copies)[0], (typeof copies)[0]];
      expect(new Set(copies.map((x) => x.version)).size).toBe(3);
      expect(await pool.openParams("k", a.version)).toBeUndefined();
      for (const { version, weights } of [b, c]) expect(bytes((await pool.openParams("k", version)) as Float32Array).equals(bytes(weights))).toBe(true);
      // A version nobody ran on (after the last step) was never kept.
      expect(await pool.openParams("k", await pool.paramsVersion("k"))).toBeUndefined();
      await pool.forgetParams("k");
    });

    it("keeps no version with keep 0, and takes a new keep on a later setParams", async () => {
      await loaded("z", 0);
      const { version } = await read("z");
      expect(await pool.openParams("z", version as string)).toBeUndefined();
      await pool.setParams("z", spec, B0, { keep: 1 });
      await read("z");
      expect(bytes((await pool.openParams("z", version as string)) as Float32Array).equals(bytes(B0))).toBe(true);
      await expect(pool.setParams("z", spec, B0, { keep: -1 })).rejects.toMatchObject({ reason: "bad-tensor" });
      await pool.forgetParams("z");
    });
  });

  describe("on the stages of a GPT", () => {
    const c: GptConfig = { ...DEFAULT_CONFIG, dModel: 32, nHead: 2, nLayer: 2, seq: 16, batch: 4, stages: 2, bottleneck: 4 };
    const x = batch(sotuCorpus().train, 1, 3, { batchSize: c.batch, seq: c.seq });
    const ids = { dims: x.dims, data: x.inputs };
    const targets = { dims: x.dims, data: x.targets };
    const m0 = buildStage(c, 0, { activations: "recompute" });
    const m1 = buildStage(c, 1, { activations: "recompute" });
    const params = initParams(c, modelParamSpecs(c));
    const flatOf = (m: StageModels): Float32Array => {
      const parts = m.params.map((s) => params[s.name] as Float32Array);
      const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of parts) {
        out.set(p, at);
        at += p.length;
      }
      return out;
    };
    const setSpec = (m: StageModels) => ({ tensors: m.params.map((s) => ({ name: s.name, dims: s.shape })) });
    const createOf = (m: StageModels) => ({
      sizes: m.params.map((p) => p.shape.reduce((a, b) => a * b, 1)),
      config: { lr: 0.01, weightDecay: 0.1, clipNorm: 1 },
      decay: m.params.map((p) => p.shape.length >= 2),
    });
    const gradY = { dims: [c.batch * c.seq, c.bottleneck as number], data: new Float32Array(c.batch * c.seq * (c.bottleneck as number)).fill(0.01) };

    it("reports from a resident forward the version it read, the stepped version after an optimize, and opens the older weights", async () => {
      const s0 = new ResidentStage(pool, m0, "ver0");
      await s0.ready();
      await pool.setParams("g0", setSpec(m0), flatOf(m0), { colocate: s0.colocation, keep: 2 });
      const old = await pool.getParams("g0");
      const f1 = await s0.forwardVersioned("a", { resident: "g0" }, ids);
      expect(f1.version).toBe(blobRef(f32ToBytes(old)));
      const sent = await s0.forwardVersioned("sent", params, ids);
      expect(sent.version).toBeNull();
      expect(bytes(sent.y.data as Float32Array).equals(bytes(f1.y.data as Float32Array))).toBe(true);
      await s0.drop("sent");
      await s0.backward("a", { gradOutput: gradY, accumulate: "g0" });
      const { version: stepped } = await pool.optimize("g0", { microbatches: 1, lr: 0.01, create: createOf(m0) });
      const f2 = await s0.forwardVersioned("b", { resident: "g0" }, ids);
      expect(f2.version).toBe(stepped);
      expect(f2.version).not.toBe(f1.version);
      expect(bytes(f2.y.data as Float32Array).equals(bytes(f1.y.data as Float32Array))).toBe(false);
      expect(bytes((await pool.openParams("g0", f1.version as string)) as Float32Array).equals(bytes(old))).toBe(true);
      // A third version evicts the first (keep 2).
      await s0.backward("b", { gradOutput: gradY, accumulate: "g0" });
      await pool.optimize("g0", { microbatches: 1, lr: 0.01, create: createOf(m0) });
      const f3 = await s0.forwardVersioned("c", { resident: "g0" }, ids);
      await s0.drop("c");
      expect(await pool.openParams("g0", f1.version as string)).toBeUndefined();
      expect(await pool.openParams("g0", f2.version as string)).toBeDefined();
      expect(blobRef(f32ToBytes((await pool.openParams("g0", f3.version as string)) as Float32Array))).toBe(f3.version);
      await Promise.all([pool.forgetParams("g0"), s0.release()]);
    });

    it("reports from the last stage's step the version it read, kept to be opened", async () => {
      const s1 = new ResidentStage(pool, m1, "ver1");
      await s1.ready();
      await pool.setParams("g1", setSpec(m1), flatOf(m1), { colocate: s1.colocation });
      const y = { dims: [c.batch * c.seq, c.bottleneck as number], data: Float32Array.from({ length: c.batch * c.seq * (c.bottleneck as number) }, (_, i) => Math.sin(i)) };
      const old = await pool.getParams("g1");
      const q1 = await s1.step({ resident: "g1" }, y, targets, { accumulate: "g1" });
      expect(q1.version).toBe(blobRef(f32ToBytes(old)));
      const { version: stepped } = await pool.optimize("g1", { microbatches: 1, lr: 0.01, create: createOf(m1) });
      const q2 = await s1.step({ resident: "g1" }, y, targets, { accumulate: "g1" });
      expect(q2.version).toBe(stepped);
      expect(q2.loss).not.toBe(q1.loss);
      expect(bytes((await pool.openParams("g1", q1.version as string)) as Float32Array).equals(bytes(old))).toBe(true);
      const sent = await s1.step(params, y, targets);
      expect(sent.version).toBeNull();
      expect(sent.loss).toBe(q1.loss);
      await Promise.all([pool.forgetParams("g1"), s1.release()]);
    });
  });
});
