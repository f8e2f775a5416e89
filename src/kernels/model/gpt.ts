// The GPT decoder written once against Ops<T>: traced into ONNX by stage.ts, run eagerly in
// float64 as the reference. Stage s: (embedding | up-projection) → its blocks → (bottleneck |
// final norm, LM head, cross-entropy). IOTA's bottleneck: the last block of a non-final stage
// projects to b and keeps the residual on the first b channels; the next stage projects back to
// d_model and re-adds its b-dim input onto the first b channels.
import type { Ops } from "../autodiff/ops.js";
import { stageLayers, tokens, type GptConfig } from "./config.js";
import { hasDown, hasUp } from "./params.js";

/** Parameters by name, in the backend's tensor type. */
export type ParamsOf<T> = Readonly<Record<string, T>>;

const param = <T>(p: ParamsOf<T>, name: string): T => {
  const v = p[name];
  if (v === undefined) throw new RangeError(`missing parameter "${name}"`);
  return v;
};

/** Causal multi-head self-attention on x [N,d] (already normalized); returns [N,d]. */
const attention = <T>(o: Ops<T>, c: GptConfig, p: ParamsOf<T>, l: number, x: T): T => {
  const d = c.dModel;
  const hd = d / c.nHead;
  const heads = [c.batch, c.seq, c.nHead, hd];
  const [q, k, v] = o.split(o.linear(x, param(p, `h${l}.attn.qkv.w`), param(p, `h${l}.attn.qkv.b`)), 1, [d, d, d]);
  if (q === undefined || k === undefined || v === undefined) throw new Error("unreachable");
  const qh = o.transpose(o.reshape(o.scale(q, 1 / Math.sqrt(hd)), heads), [0, 2, 1, 3]); // [B,H,T,hd]
  const kt = o.transpose(o.reshape(k, heads), [0, 2, 3, 1]); // [B,H,hd,T]
  const vh = o.transpose(o.reshape(v, heads), [0, 2, 1, 3]); // [B,H,T,hd]
  const att = o.softmax(o.maskCausal(o.matmul(qh, kt))); // [B,H,T,T]
  const y = o.reshape(o.transpose(o.matmul(att, vh), [0, 2, 1, 3]), [tokens(c), d]);
  return o.linear(y, param(p, `h${l}.attn.proj.w`), param(p, `h${l}.attn.proj.b`));
};

/** Pre-norm transformer block l on x [N,d]; output [N,outDim] (outDim < d: the bottleneck). */
export const block = <T>(o: Ops<T>, c: GptConfig, p: ParamsOf<T>, l: number, x: T, outDim: number): T => {
  const a = o.add(x, attention(o, c, p, l, o.layerNorm(x, param(p, `h${l}.ln1.g`), param(p, `h${l}.ln1.b`), c.eps)));
  const h = o.layerNorm(a, param(p, `h${l}.ln2.g`), param(p, `h${l}.ln2.b`), c.eps);
  const m = o.linear(o.gelu(o.linear(h, param(p, `h${l}.mlp.fc.w`), param(p, `h${l}.mlp.fc.b`))), param(p, `h${l}.mlp.proj.w`), param(p, `h${l}.mlp.proj.b`));
  return o.add(outDim === c.dModel ? a : o.sliceLast(a, 0, outDim), m);
};

/**
 * Stage s up to its last block. `input` is int32 token ids [B,T] for stage 0, else the previous
 * stage's output [N, b or d]. Returns [N, b] before a bottleneck boundary, else [N, d].
 */
export const stageBody = <T>(o: Ops<T>, c: GptConfig, s: number, p: ParamsOf<T>, input: T): T => {
  const d = c.dModel;
  let x: T;
  if (s === 0) {
    x = o.reshape(o.add(o.gather(param(p, "wte"), input), param(p, "wpe")), [tokens(c), d]);
  } else if (hasUp(c, s)) {
    x = o.add(o.linear(input, param(p, `up${s}.w`), param(p, `up${s}.b`)), o.padLast(input, d));
  } else x = input;
  const { from, to } = stageLayers(c, s);
  for (let l = from; l < to; l++) x = block(o, c, p, l, x, l === to - 1 && hasDown(c, s) ? (c.bottleneck ?? d) : d);
  return x;
};

/**
 * Stage s forward: the boundary activation [N, b or d], or for the last stage the mean
 * cross-entropy against int32 `targets` [B,T].
 */
export const stageForward = <T>(o: Ops<T>, c: GptConfig, s: number, p: ParamsOf<T>, input: T, targets?: T): T => {
  const x = stageBody(o, c, s, p, input);
  if (s < c.stages - 1) return x;
  if (targets === undefined) throw new RangeError("the last stage needs targets");
  return o.crossEntropy(lmLogits(o, c, p, x), o.reshape(targets, [tokens(c)]));
};

/** Final LayerNorm and LM head on x [N,d]: logits [N,V]. */
export const lmLogits = <T>(o: Ops<T>, c: GptConfig, p: ParamsOf<T>, x: T): T =>
  o.linear(o.layerNorm(x, param(p, "lnf.g"), param(p, "lnf.b"), c.eps), param(p, "head.w"));

/** The whole pipeline in one pass (all stages chained): the loss of ids [B,T] against targets. */
export const modelForward = <T>(o: Ops<T>, c: GptConfig, p: ParamsOf<T>, ids: T, targets: T): T => {
  let x = ids;
  for (let s = 0; s < c.stages; s++) x = stageForward(o, c, s, p, x, s === c.stages - 1 ? targets : undefined);
  return x;
};

/** Next-token logits [B,T,V] of ids [B,T] through the whole pipeline (inference). */
export const modelLogits = <T>(o: Ops<T>, c: GptConfig, p: ParamsOf<T>, ids: T): T => {
  let x = ids;
  for (let s = 0; s < c.stages; s++) x = stageBody(o, c, s, p, x);
  return o.reshape(lmLogits(o, c, p, x), [c.batch, c.seq, c.vocab]);
};
