// Validation of a swarm's model: the composed model (one miner's weights per stage, or merged
// weights) on the trainer's fixed validation batches, in bits per byte, so a swarm's curve and the
// monolithic baseline's compare at equal tokens.
import { validationBatches } from "../../kernels/data/batches.js";
import type { Corpus } from "../../kernels/data/corpus.js";
import { bitsPerByte } from "../../kernels/data/metrics.js";
import type { Tensor } from "../../kernels/runtime/tensor.js";
import type { OrchestratorState } from "../../machines/orchestrator/index.js";
import { type BlobStore, getF32 } from "./blob-store.js";
import type { StageKernels } from "./stage-kernels.js";
import { stageLayout, type SwarmModel, viewsOf } from "./model.js";

export type ValBatch = { readonly ids: Tensor; readonly targets: Tensor };

/** The fixed validation batches of a model's shape (the same ones `swarmline train` uses). */
export const valBatches = (corpus: Corpus, model: SwarmModel, count: number): ValBatch[] =>
  validationBatches(corpus.validation, count, { batchSize: model.gpt.batch, seq: model.gpt.seq }).map((b) => ({
    ids: { dims: b.dims, data: b.inputs },
    targets: { dims: b.dims, data: b.targets },
  }));

/** Mean validation loss of the composed parameters (all stages' names), in bits per byte. */
export const validationBpb = async (kernels: StageKernels, params: Readonly<Record<string, Float32Array>>, batches: readonly ValBatch[]): Promise<number> => {
  let s = 0;
  for (const b of batches) s += await kernels.wholeLoss(params, b.ids, b.targets);
  return bitsPerByte(s / batches.length);
};

/**
 * The run's model as its log names it: every stage's freshest full weights (the `weights` ref a
 * joiner would load: the last WeightsLoaded, after an overlapped merge the merge's consensus), read
 * from the run's blob store. What an orchestrator or an auditor can evaluate without any miner.
 */
export const logWeights = async (blobs: BlobStore, model: SwarmModel, view: OrchestratorState): Promise<Record<string, Float32Array>> => {
  const out: Record<string, Float32Array> = {};
  for (let s = 0; s < model.gpt.stages; s++) {
    const ref = view.stages[s]?.weights;
    if (ref === undefined) throw new Error(`the log names no weights for stage ${s}`);
    const layout = stageLayout(model.gpt, s);
    const w = await getF32(blobs, ref);
    if (w.length !== layout.size) throw new Error(`stage ${s} weights ${ref} hold ${w.length} values, the model's stage has ${layout.size}`);
    Object.assign(out, viewsOf(layout, w));
  }
  return out;
};
