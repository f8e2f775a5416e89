// Messages between a KernelPool and its worker threads. Tensors travel as {dims, data}; their
// ArrayBuffers go in the transfer list when the caller allows it, so nothing is copied.
import type { AdamWConfig, StepReport } from "../optim/adamw.js";
import type { KernelFailed } from "./errors.js";
import type { Tensor } from "./tensor.js";

/** Requests a worker understands; `id` pairs a reply with its request. */
export type WorkerRequest =
  | { readonly op: "load"; readonly id: number; readonly key: string; readonly model: Uint8Array; readonly threads: number; readonly provider: "cpu" | "cuda" | undefined }
  | {
      readonly op: "run";
      readonly id: number;
      readonly key: string;
      readonly feeds: Record<string, Tensor>;
      readonly outputNames: readonly string[] | undefined;
      readonly preallocated: Record<string, Tensor> | undefined;
      /** Keep these outputs (not returned) and feeds in the worker under a stash id. */
      readonly keep?: StashKeep | undefined;
      /** Take missing feeds from this stash; release it after the run when `release`. */
      readonly use?: StashUse | undefined;
      /** Take missing parameter feeds from this parameter set (kept feeds are copied). */
      readonly params?: string | undefined;
      /** Add these outputs (output name -> parameter name) into this set's gradients instead of returning them. */
      readonly accumulate?: { readonly set: string; readonly outputs: Readonly<Record<string, string>> } | undefined;
      /** Reply with the version of the `params` set's weights this run reads, and keep that version. */
      readonly version?: boolean | undefined;
    }
  | {
      readonly op: "params";
      readonly id: number;
      readonly key: string;
      readonly action: "set";
      readonly spec: ParamSetSpec;
      readonly data: Float32Array;
      /** How many versions read by runs to keep (ParamSet.keep); absent: the set's current count, or the default. */
      readonly keep?: number | undefined;
    }
  | { readonly op: "params"; readonly id: number; readonly key: string; readonly action: "get" | "forget" | "saveOptimizer" | "version" }
  | { readonly op: "params"; readonly id: number; readonly key: string; readonly action: "open"; readonly hash: string }
  | { readonly op: "params"; readonly id: number; readonly key: string; readonly action: "restoreOptimizer"; readonly create: OptimizerSpec; readonly bytes: Uint8Array }
  | {
      readonly op: "params";
      readonly id: number;
      readonly key: string;
      readonly action: "blend";
      readonly parts: readonly { readonly start: number; readonly values: Float32Array }[];
      readonly base: Float32Array | undefined;
    }
  | {
      readonly op: "optimize";
      readonly id: number;
      /** The parameter set to step; its optimizer is created from `create` on the first step. */
      readonly key: string;
      readonly create: OptimizerSpec | undefined;
      /** Backward runs summed since the last step (the set's own count must agree). */
      readonly microbatches: number;
      readonly lr: number;
    }
  | { readonly op: "unload"; readonly id: number; readonly key: string }
  | { readonly op: "drop"; readonly id: number; readonly stashes: readonly string[] };

/** What a run keeps in its worker: `outputs` (not returned) and copies of `feeds`, under `id`. */
export type StashKeep = { readonly id: string; readonly outputs: readonly string[]; readonly feeds: readonly string[] };

/** A stash a run reads its missing feeds from; `release` frees it (and recycles its buffers) after the run. */
export type StashUse = { readonly id: string; readonly release: boolean };

/** The named tensors of a parameter set, in the order of its flat vector. */
export type ParamSetSpec = { readonly tensors: readonly { readonly name: string; readonly dims: readonly number[] }[] };

/** An AdamW kept in a worker: the sizes of the tensors of its flat vector, its hyperparameters, and which tensors decay. */
export type OptimizerSpec = { readonly sizes: readonly number[]; readonly config: AdamWConfig; readonly decay: readonly boolean[] };

/** What a worker learned about a loaded model. */
export type ModelInfo = {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly provider: "cpu" | "cuda";
};

/** Replies; a failure carries the KernelFailed reason and message (errors do not cross threads). */
export type WorkerReply =
  | {
      readonly id: number;
      readonly ok: true;
      readonly info?: ModelInfo;
      readonly outputs?: Record<string, Tensor>;
      readonly report?: StepReport;
      /** saveOptimizer: the state (absent before the first step); restoreOptimizer: its step count. */
      readonly bytes?: Uint8Array;
      readonly steps?: number;
      /** A parameter set's version (content hash): of the weights a run read, after a step, or asked for. */
      readonly version?: string;
    }
  | { readonly id: number; readonly ok: false; readonly reason: KernelFailed["reason"]; readonly message: string };

/** The distinct ArrayBuffers behind a set of tensors (a buffer listed twice breaks postMessage). */
export const buffersOf = (tensors: Iterable<Tensor>): ArrayBuffer[] => {
  const set = new Set<ArrayBuffer>();
  for (const t of tensors) if (t.data.buffer instanceof ArrayBuffer) set.add(t.data.buffer);
  return [...set];
};
