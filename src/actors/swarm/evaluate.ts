// Validation of a swarm's model: the composed model (one miner's weights per stage, or merged
// weights) on the trainer's fixed validation batches, in bits per byte, so a swarm's curve and the
// monolithic baseline's compare at equal tokens.
import { validationBatches } from "../../kernels/data/batches.js";
import type { Corpus } from "../../kernels/data/corpus.js";
import { bitsPerByte } from "../../kernels/data/metrics.js";
import type { Tensor } from "../../kernels/runtime/tensor.js";
import type { StageKernels } from "./compute.js";
import type { SwarmModel } from "./model.js";

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
