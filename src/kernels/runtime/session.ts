// One ONNX model loaded into onnxruntime-node, behind a narrow API that checks feeds (ORT silently
// ignores unknown names), supports preallocated outputs and picks CUDA when it is installed.
// This folder is the only place onnxruntime-node is imported (lint enforces it).
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as ort from "onnxruntime-node";
import { kernelFailed } from "./errors.js";
import { dtypeOf, sizeOf, type Tensor } from "./tensor.js";

export type { Tensor } from "./tensor.js";

/** Where a session runs; "auto" means CUDA when its provider library is present, else CPU. */
export type Provider = "cpu" | "cuda";

/** Options for KernelSession.create. */
export type SessionOptions = {
  /** intraOpNumThreads; ORT's default uses every core, which fights other sessions. */
  readonly threads?: number;
  /** Force a provider; omitted = CUDA when available, else CPU. */
  readonly provider?: Provider;
};

/**
 * True when this onnxruntime-node build lists CUDA and its provider library is installed
 * (the npm package ships CPU only unless its postinstall fetched the CUDA provider).
 */
export const cudaAvailable = (): boolean => {
  if (!ort.listSupportedBackends().some((b) => b.name === "cuda")) return false;
  try {
    const pkg = createRequire(import.meta.url).resolve("onnxruntime-node/package.json");
    const bin = join(dirname(pkg), "bin", "napi-v6", process.platform, process.arch);
    return existsSync(join(bin, "libonnxruntime_providers_cuda.so"));
  } catch {
    return false;
  }
};

const toOrt = (name: string, t: Tensor): ort.Tensor => {
  if (sizeOf(t.dims) !== t.data.length || t.dims.some((d) => !Number.isInteger(d) || d < 0)) {
    throw kernelFailed("bad-tensor", `tensor "${name}": ${t.data.length} elements for shape [${t.dims.join(",")}]`);
  }
  return new ort.Tensor(dtypeOf(t.data), t.data, t.dims);
};

const fromOrt = (name: string, v: ort.OnnxValue): Tensor => {
  if (!(v instanceof ort.Tensor)) throw kernelFailed("bad-tensor", `output "${name}" is not a tensor`);
  const d = v.data;
  if (d instanceof Float32Array || d instanceof Int32Array || d instanceof BigInt64Array) return { dims: v.dims, data: d };
  throw kernelFailed("bad-tensor", `output "${name}" has unsupported type ${v.type}`);
};

/** A loaded model. Create with `KernelSession.create`, release with `release()`. */
export class KernelSession {
  private released = false;
  private constructor(
    private readonly session: ort.InferenceSession,
    /** The provider the session actually runs on. */
    readonly provider: Provider,
  ) {
    this.inputNames = session.inputNames;
    this.outputNames = session.outputNames;
    const shapes: Record<string, { dims: readonly number[]; type: string }> = {};
    for (const md of session.outputMetadata) {
      if (md.isTensor && md.shape.every((d) => typeof d === "number")) shapes[md.name] = { dims: md.shape as number[], type: md.type };
    }
    this.staticOutputs = shapes;
  }

  /** Outputs whose shape is fully static in the model, with their element type (for preallocation). */
  readonly staticOutputs: Readonly<Record<string, { readonly dims: readonly number[]; readonly type: string }>>;

  /** Graph inputs (feeds); every one is required. */
  readonly inputNames: readonly string[];
  /** Graph outputs. */
  readonly outputNames: readonly string[];

  /** Loads a serialized ONNX model. Fails with KernelFailed("ort") if ORT rejects it. */
  static async create(model: Uint8Array, opts: SessionOptions = {}): Promise<KernelSession> {
    const provider: Provider = opts.provider ?? (cudaAvailable() ? "cuda" : "cpu");
    const base: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: "all",
      ...(opts.threads !== undefined ? { intraOpNumThreads: opts.threads, interOpNumThreads: 1 } : {}),
    };
    try {
      const s = await ort.InferenceSession.create(model, { ...base, executionProviders: provider === "cuda" ? ["cuda", "cpu"] : ["cpu"] });
      return new KernelSession(s, provider);
    } catch (err) {
      if (provider === "cuda" && opts.provider === undefined) {
        // CUDA library present but unusable (no driver/GPU): fall back to CPU.
        try {
          return new KernelSession(await ort.InferenceSession.create(model, { ...base, executionProviders: ["cpu"] }), "cpu");
        } catch (err2) {
          throw kernelFailed("ort", `cannot load model: ${String(err2)}`);
        }
      }
      throw kernelFailed("ort", `cannot load model: ${String(err)}`);
    }
  }

  /**
   * Runs the model. `outputNames` defaults to all outputs. A `preallocated` tensor is written in
   * place (ORT-allocated large outputs are ~10x slower here) and returned under its name.
   * Throws KernelFailed for unknown feeds, missing inputs, unknown outputs or an ORT error.
   */
  async run(
    feeds: Readonly<Record<string, Tensor>>,
    outputNames?: readonly string[],
    preallocated?: Readonly<Record<string, Tensor>>,
  ): Promise<Record<string, Tensor>> {
    if (this.released) throw kernelFailed("released", "session was released");
    const inputs = new Set(this.inputNames);
    for (const name of Object.keys(feeds)) {
      if (!inputs.has(name)) throw kernelFailed("unknown-input", `"${name}" is not an input of the model (inputs: ${this.inputNames.join(", ")})`);
    }
    const missing = this.inputNames.filter((n) => !(n in feeds));
    if (missing.length > 0) throw kernelFailed("missing-input", `missing input(s): ${missing.join(", ")}`);
    const wanted = outputNames ?? this.outputNames;
    const outs = new Set(this.outputNames);
    for (const n of [...wanted, ...Object.keys(preallocated ?? {})]) {
      if (!outs.has(n)) throw kernelFailed("unknown-output", `"${n}" is not an output of the model (outputs: ${this.outputNames.join(", ")})`);
    }
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [n, t] of Object.entries(feeds)) ortFeeds[n] = toOrt(n, t);
    const fetches: Record<string, ort.Tensor | null> = {};
    for (const n of wanted) fetches[n] = null;
    for (const [n, t] of Object.entries(preallocated ?? {})) fetches[n] = toOrt(n, t);
    let result: ort.InferenceSession.ReturnType;
    try {
      result = await this.session.run(ortFeeds, fetches);
    } catch (err) {
      throw kernelFailed("ort", String(err));
    }
    const out: Record<string, Tensor> = {};
    for (const n of Object.keys(fetches)) {
      const pre = preallocated?.[n];
      const v = result[n];
      if (pre !== undefined) out[n] = pre;
      else if (v !== undefined) out[n] = fromOrt(n, v);
      else throw kernelFailed("ort", `ORT returned no value for "${n}"`);
    }
    return out;
  }

  /** Frees the native session; later runs fail with KernelFailed("released"). Idempotent. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.session.release();
  }
}
