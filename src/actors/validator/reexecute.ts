// A spot check with real kernels: the validator re-runs the checked work from what the log names
// (the weights version the miner opened, the inputs and outputs on the data stream, the dataset
// batch) and measures how far the claim is from the result. Pipeline work is compared the way
// IOTA's validators compare activations (cosine and norm ratio), since float reductions may differ
// in their last bits across machines; a reduction is compared bit for bit, as the protocol is.
import type { Corpus } from "../../kernels/data/corpus.js";
import type { Tensor } from "../../kernels/runtime/tensor.js";
import type { WorkEvidence } from "../../machines/scorer/index.js";
import { type BlobStore, getF32 } from "../swarm/blob-store.js";
import { datasetBatch, fromWire, type StageKernels, toWire } from "../swarm/stage-kernels.js";
import { reducePartition } from "../swarm/merge-io.js";
import { stageLayout, type SwarmModel, viewsOf } from "../swarm/model.js";

export interface CheckOutcome {
  readonly passed: boolean;
  /** 1 − cosine of claimed and recomputed tensors (0 = same direction), |Δloss| for a loss, 0/1 for a reduction. */
  readonly distance: number;
  readonly detail: string;
}

/** IOTA's deployed thresholds, tightened: the same kernels run on both sides here. */
export const TOLERANCE = { cosine: 0.99, normRatio: 0.95, lossRelative: 1e-3 } as const;

export interface ReexecuteDeps {
  readonly model: SwarmModel;
  readonly kernels: StageKernels;
  readonly corpus: Corpus;
  readonly blobs: BlobStore;
  /**
   * Bytes of a data message (activations or gradients) by content ref, if the validator saw it; may
   * wait (a validator's reader of the data stream catching up with the facts) before saying no.
   */
  readonly data: (ref: string) => Uint8Array | undefined | Promise<Uint8Array | undefined>;
}

const fail = (detail: string, distance = 1): CheckOutcome => ({ passed: false, distance, detail });

/** Cosine and norm ratio (min/max) of two tensors, float64 in index order. */
export const similarity = (a: Float32Array, b: Float32Array): { cosine: number; normRatio: number } => {
  if (a.length !== b.length) return { cosine: 0, normRatio: 0 };
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number, y = b[i] as number;
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  if (aa === 0 && bb === 0) return { cosine: 1, normRatio: 1 };
  const na = Math.sqrt(aa), nb = Math.sqrt(bb);
  return { cosine: na > 0 && nb > 0 ? ab / (na * nb) : 0, normRatio: Math.min(na, nb) / Math.max(na, nb) };
};

/** Claimed wire bytes against a recomputed tensor, quantised the same way. */
const compare = (d: ReexecuteDeps, what: string, claimed: Uint8Array, recomputed: Tensor): CheckOutcome => {
  const gpt = d.model.gpt;
  const mine = toWire(gpt, recomputed, d.model.quant);
  const x = fromWire(gpt, claimed).data as Float32Array;
  const y = fromWire(gpt, mine.bytes).data as Float32Array;
  const { cosine, normRatio } = similarity(x, y);
  const distance = 1 - cosine;
  const passed = cosine >= TOLERANCE.cosine && normRatio >= TOLERANCE.normRatio;
  return { passed, distance, detail: `${what}: cosine ${cosine.toFixed(4)}, norm ratio ${normRatio.toFixed(4)}` };
};

/** Re-executes the work `e` names. Never throws: what cannot be fetched or run is a failed check, named. */
export const reexecute = async (d: ReexecuteDeps, e: WorkEvidence, tag: string): Promise<CheckOutcome> => {
  try {
    if (e.kind === "missing") return fail(e.reason);
    if (e.kind === "reduce") {
      const task = e.accepted.task;
      if (task === null) return fail("the reduction's inputs are not in the log");
      // A contributor forged in the store counts as missing, as it did for the honest reducers.
      const forged: string[] = [];
      const hash = await reducePartition(d.blobs, task, (err) => forged.push(err.ref.slice(0, 12)));
      const note = forged.length === 0 ? "" : ` (contributions ${forged.join(", ")} do not hash to their names)`;
      return hash === e.accepted.hash ? { passed: true, distance: 0, detail: `reduction recomputed bit for bit${note}` } : fail(`accepted ${e.accepted.hash.slice(0, 12)}, recomputed ${hash.slice(0, 12)}${note}`);
    }
    if (e.weights === null) return fail("the work names no weights version");
    if (!(await d.blobs.has(e.weights))) return fail(`weights ${e.weights.slice(0, 12)} were never opened`);
    const stage = e.target.stage;
    const layout = stageLayout(d.model.gpt, stage);
    const params = viewsOf(layout, await getF32(d.blobs, e.weights));
    let input: Tensor;
    if (stage === 0) input = datasetBatch(d.corpus, d.model, e.batch).ids;
    else {
      const bytes = e.input === null ? undefined : await d.data(e.input);
      if (bytes === undefined) return fail(`input activations ${String(e.input).slice(0, 12)} are not on the data stream`);
      input = fromWire(d.model.gpt, bytes);
    }
    const resident = d.kernels.resident(stage);
    if (e.kind === "loss") {
      const { targets } = datasetBatch(d.corpus, d.model, e.batch);
      const r = await resident.step(params, input, targets);
      const dl = e.loss === null ? Number.POSITIVE_INFINITY : Math.abs(e.loss - r.loss);
      if (!(dl <= TOLERANCE.lossRelative * Math.abs(r.loss) + 1e-6)) return fail(`loss ${e.loss} differs from the re-executed ${r.loss.toFixed(6)}`, dl);
      if (stage === 0 || r.gradInput === undefined) return { passed: true, distance: dl, detail: `loss matches (Δ ${dl.toExponential(2)})` };
      const claimed = e.gradOut === null ? undefined : await d.data(e.gradOut);
      if (claimed === undefined) return fail("the input-gradients it returned are not on the data stream");
      return compare(d, "input-gradients", claimed, r.gradInput);
    }
    const stash = `check:${tag}`;
    const y = await resident.forward(stash, params, input);
    if (e.kind === "forward") {
      await resident.drop(stash);
      const claimed = e.out === null ? undefined : await d.data(e.out);
      if (claimed === undefined) return fail("the activations it forwarded are not on the data stream");
      return compare(d, "activations", claimed, y);
    }
    const gradIn = e.gradIn === null ? undefined : await d.data(e.gradIn);
    if (gradIn === undefined) {
      await resident.drop(stash);
      return fail("the gradients it received are not on the data stream");
    }
    const bw = await resident.backward(stash, { gradOutput: fromWire(d.model.gpt, gradIn) });
    const claimed = e.gradOut === null ? undefined : await d.data(e.gradOut);
    if (claimed === undefined || bw.gradInput === undefined) return fail("the input-gradients it returned are not on the data stream");
    return compare(d, "input-gradients", claimed, bw.gradInput);
  } catch (err) {
    return fail(`re-execution failed: ${err instanceof Error ? err.message : String(err)}`);
  }
};
