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

/** Where a run's parameters come from: arrays sent with it, or a parameter set kept in the worker (KernelPool.setParams). */
export type ParamSource = Params | { readonly resident: string };

const isResident = (p: ParamSource): p is { readonly resident: string } => typeof (p as { resident?: unknown }).resident === "string";

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

  /** The models' load, done once (runs load on demand; parameter sets colocate with a loaded model). */
  ready(): Promise<void> {
    return this.load();
  }

  /** Input (and targets) feeds, with the parameters unless they come from a parameter set. */
  private feeds(params: ParamSource, input: Tensor, targets: Tensor | undefined): Record<string, Tensor> {
    const m = this.models;
    const feeds = isResident(params) ? {} : paramFeeds(m.params, params);
    feeds[m.input.name] = sameShape(m.input.name, m.input.shape, input);
    if (m.targets !== undefined) {
      if (targets === undefined) throw new RangeError(`stage ${m.stage} is the last stage: targets are required`);
      feeds[m.targets.name] = sameShape(m.targets.name, m.targets.shape, targets);
    }
    return feeds;
  }

  /** Parameter-gradient outputs summed into parameter set `set` (output name -> parameter name). */
  private sums(set: string): { readonly set: string; readonly outputs: Record<string, string> } {
    return { set, outputs: Object.fromEntries(this.models.params.map((p) => [gradName(p.name), p.name])) };
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
  async forward(stash: string, params: ParamSource, input: Tensor, targets?: Tensor): Promise<Tensor> {
    return (await this.runForward(stash, params, input, targets, false)).y;
  }

  /**
   * `forward`, also reporting the version (content hash) of the resident weights it read, kept in the
   * worker so the miner can open them later (KernelPool.openParams); null when `params` were sent.
   */
  forwardVersioned(stash: string, params: ParamSource, input: Tensor, targets?: Tensor): Promise<{ readonly y: Tensor; readonly version: string | null }> {
    return this.runForward(stash, params, input, targets, true);
  }

  private async runForward(stash: string, params: ParamSource, input: Tensor, targets: Tensor | undefined, versioned: boolean): Promise<{ readonly y: Tensor; readonly version: string | null }> {
    await this.load();
    const m = this.models;
    const feeds = this.feeds(params, input, targets);
    const opts = {
      keep: { stash: this.id(stash), outputs: m.saved.map((s) => s.name), feeds: [...new Set([...m.params.map((p) => p.name), ...Object.keys(feeds)])] },
      ...(isResident(params) ? { params: params.resident } : {}),
    };
    const { outputs, version } = versioned
      ? await this.pool.runVersioned(this.fwd, feeds, [m.output.name], opts)
      : { outputs: await this.pool.run(this.fwd, feeds, [m.output.name], opts), version: null };
    const y = outputs[m.output.name];
    if (y === undefined) throw new RangeError(`model returned no "${m.output.name}"`);
    return { y, version };
  }

  /**
   * Runs the backward of the forward kept under `stash` and frees it. `gradOutput` is required
   * except on the last stage; `into` are optional gradient buffers to write into; with
   * `accumulate` the parameter gradients are summed into that parameter set and not returned.
   */
  async backward(stash: string, opts: { readonly gradOutput?: Tensor; readonly into?: GradBuffers; readonly accumulate?: string } = {}): Promise<BackwardResult> {
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
    const out = await this.pool.run(this.bwd, feeds, names, {
      use: { stash: this.id(stash), release: true },
      ...(pre === undefined ? {} : { preallocated: pre }),
      ...(opts.accumulate === undefined ? {} : { accumulate: this.sums(opts.accumulate) }),
    });
    return opts.accumulate === undefined ? gradsOf(m, out) : { gradInput: m.stage === 0 ? undefined : out["grad_x"], gradParams: {} };
  }

  /**
   * The last stage's whole step in one run when it recomputes its activations: the loss and the
   * gradients, with nothing kept between runs (the same bytes as forward then backward). With
   * `accumulate`, the parameter gradients are summed into that parameter set and not returned.
   * `version`: that of the resident weights the step read (kept for KernelPool.openParams), null
   * when `params` were sent.
   */
  async step(params: ParamSource, input: Tensor, targets: Tensor, opts: { readonly accumulate?: string } = {}): Promise<BackwardResult & { readonly loss: number; readonly version: string | null }> {
    const m = this.models;
    if (m.targets === undefined || m.activations !== "recompute") throw new RangeError(`step needs the last stage built with recomputed activations (stage ${m.stage})`);
    await this.load();
    const names = [...(m.stage === 0 ? [] : ["grad_x"]), ...m.params.map((p) => gradName(p.name)), m.output.name];
    const { outputs: out, version } = await this.pool.runVersioned(this.bwd, this.feeds(params, input, targets), names, {
      ...(isResident(params) ? { params: params.resident } : {}),
      ...(opts.accumulate === undefined ? {} : { accumulate: this.sums(opts.accumulate) }),
    });
    const loss = out[m.output.name];
    if (loss === undefined) throw new RangeError(`model returned no "${m.output.name}"`);
    const grads = opts.accumulate === undefined ? gradsOf(m, out) : { gradInput: m.stage === 0 ? undefined : out["grad_x"], gradParams: {} };
    return { ...grads, loss: Number(loss.data[0]), version };
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
