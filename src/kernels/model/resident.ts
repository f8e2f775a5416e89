// One stage's forward and backward on a KernelPool worker with the forward's saved activations,
// parameters and input kept in that worker (a stash per microbatch) until its backward: only the
// boundary tensors and the parameter gradients cross threads. Same models and feeds as StageRunner,
// so the same bytes; the backward uses the parameters the forward saw, whatever happened since.
import type { KernelPool } from "../runtime/pool.js";
import type { Tensor } from "../runtime/tensor.js";
import type { Params } from "./params.js";
import { type BackwardResult, type GradBuffers, paramFeeds } from "./runner.js";
import { gradName, type StageModels } from "./stage.js";

const sameShape = (name: string, want: readonly number[], t: Tensor): Tensor => {
  if (t.dims.length !== want.length || t.dims.some((d, i) => d !== want[i]) || t.data.length !== want.reduce((a, b) => a * b, 1)) {
    throw new RangeError(`"${name}" must have shape [${want.join(",")}], got [${t.dims.join(",")}]`);
  }
  return t;
};

/** A backward run's gradients by parameter, and grad_x on stages after the first. */
const gradsOf = (m: StageModels, out: Readonly<Record<string, Tensor>>): BackwardResult => {
  const gradParams: Record<string, Float32Array> = {};
  for (const p of m.params) {
    const g = out[gradName(p.name)];
    if (g === undefined || !(g.data instanceof Float32Array)) throw new RangeError(`model returned no float32 "${gradName(p.name)}"`);
    gradParams[p.name] = g.data;
  }
  return { gradInput: m.stage === 0 ? undefined : out["grad_x"], gradParams };
};

/** A stage whose activations live in a pool worker between forward and backward. */
export class ResidentStage {
  private loaded: Promise<void> | undefined;
  private readonly fwd: string;
  private readonly bwd: string;
  private readonly key: string;

  /** `key` names this stage's models in the pool (unique per pool). */
  constructor(
    private readonly pool: KernelPool,
    readonly models: StageModels,
    key: string,
  ) {
    this.fwd = `${key}:fwd`;
    this.bwd = `${key}:bwd`;
    this.key = key;
  }

  /** The pool key of this stage's forward model: colocate with it to run beside the stage. */
  get colocation(): string {
    return this.fwd;
  }

  /** Stash ids are per stage, so stages sharing a pool may use the same microbatch names. */
  private id(stash: string): string {
    return `${this.key}/${stash}`;
  }

  private load(): Promise<void> {
    this.loaded ??= (async () => {
      await this.pool.load(this.fwd, this.models.forward.bytes);
      await this.pool.load(this.bwd, this.models.backward.bytes, { colocate: this.fwd });
    })();
    return this.loaded;
  }

  /**
   * Runs the forward and keeps what backward needs under `stash` (unique among live stashes of the
   * stage); returns the boundary output, or the scalar loss on the last stage.
   */
  async forward(stash: string, params: Params, input: Tensor, targets?: Tensor): Promise<Tensor> {
    await this.load();
    const m = this.models;
    const feeds = paramFeeds(m.params, params);
    feeds[m.input.name] = sameShape(m.input.name, m.input.shape, input);
    if (m.targets !== undefined) {
      if (targets === undefined) throw new RangeError(`stage ${m.stage} is the last stage: targets are required`);
      feeds[m.targets.name] = sameShape(m.targets.name, m.targets.shape, targets);
    }
    const out = await this.pool.run(this.fwd, feeds, [m.output.name], {
      keep: { stash: this.id(stash), outputs: m.saved.map((s) => s.name), feeds: Object.keys(feeds) },
    });
    const y = out[m.output.name];
    if (y === undefined) throw new RangeError(`model returned no "${m.output.name}"`);
    return y;
  }

  /**
   * Runs the backward of the forward kept under `stash` and frees it. `gradOutput` is required
   * except on the last stage; `into` are optional gradient buffers to write into.
   */
  async backward(stash: string, opts: { readonly gradOutput?: Tensor; readonly into?: GradBuffers } = {}): Promise<BackwardResult> {
    await this.load();
    const m = this.models;
    const feeds: Record<string, Tensor> = {};
    if (m.targets === undefined) {
      if (opts.gradOutput === undefined) throw new RangeError(`stage ${m.stage} backward needs gradOutput`);
      feeds["grad_y"] = sameShape("grad_y", m.output.shape, opts.gradOutput);
    }
    let pre: Record<string, Tensor> | undefined;
    if (opts.into !== undefined) {
      pre = {};
      for (const p of m.params) {
        const buf = opts.into[p.name];
        if (buf !== undefined) pre[gradName(p.name)] = sameShape(p.name, p.shape, { dims: p.shape, data: buf });
      }
    }
    const names = [...(m.stage === 0 ? [] : ["grad_x"]), ...m.params.map((p) => gradName(p.name))];
    const out = await this.pool.run(this.bwd, feeds, names, { use: { stash: this.id(stash), release: true }, ...(pre === undefined ? {} : { preallocated: pre }) });
    return gradsOf(m, out);
  }

  /**
   * The last stage's whole step in one run when it recomputes its activations: the loss and the
   * gradients, with nothing kept between runs (the same bytes as forward then backward).
   */
  async step(params: Params, input: Tensor, targets: Tensor): Promise<BackwardResult & { readonly loss: number }> {
    const m = this.models;
    if (m.targets === undefined || m.activations !== "recompute") throw new RangeError(`step needs the last stage built with recomputed activations (stage ${m.stage})`);
    await this.load();
    const feeds = paramFeeds(m.params, params);
    feeds[m.input.name] = sameShape(m.input.name, m.input.shape, input);
    feeds[m.targets.name] = sameShape(m.targets.name, m.targets.shape, targets);
    const names = [...(m.stage === 0 ? [] : ["grad_x"]), ...m.params.map((p) => gradName(p.name)), m.output.name];
    const out = await this.pool.run(this.bwd, feeds, names);
    const loss = out[m.output.name];
    if (loss === undefined) throw new RangeError(`model returned no "${m.output.name}"`);
    return { ...gradsOf(m, out), loss: Number(loss.data[0]) };
  }

  /** Frees a stash whose backward will not run (its microbatch was reissued or dropped). */
  drop(stash: string): Promise<void> {
    return this.pool.drop(this.id(stash));
  }

  /** Unloads the stage's models (the pool stays open). */
  async release(): Promise<void> {
    if (this.loaded === undefined) return;
    await this.loaded.catch(() => undefined);
    this.loaded = undefined;
    await this.pool.unload(this.fwd);
    await this.pool.unload(this.bwd);
  }
}
