// Messages between verifiedReplay (main thread, reading the log) and its verifying worker.
import type { VerifyResult } from "../../events/verify.js";

/** Once per worker: where it finds the EventRegistry (a module exporting a factory). */
export interface VerifyLoad {
  readonly kind: "load";
  readonly registryModule: string;
  readonly registryExport: string;
}

/** Once per replay: a fresh verifier for the run. */
export interface VerifyStart {
  readonly kind: "start";
  readonly run: string;
  readonly fullSignatures: boolean;
}

/**
 * A chunk of stored messages, packed in one transferable buffer: `seqs[i]` is the stream seq of
 * message i, its bytes are `bytes[offsets[i] .. offsets[i + 1])`.
 */
export interface VerifyChunk {
  readonly kind: "chunk";
  readonly seqs: Float64Array;
  readonly offsets: Uint32Array;
  readonly bytes: Uint8Array;
}

export interface VerifyEnd {
  readonly kind: "end";
}

export type ToVerifier = VerifyLoad | VerifyStart | VerifyChunk | VerifyEnd;

/** After load and start, after each chunk (flow control), and the verdict at the end. */
export type FromVerifier =
  | { readonly kind: "ready" }
  | { readonly kind: "started" }
  | { readonly kind: "done-chunk" }
  | { readonly kind: "result"; readonly result: VerifyResult }
  | { readonly kind: "error"; readonly message: string };
