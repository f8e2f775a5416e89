// The op vocabulary a GPT decoder is written in. Model code is generic over Ops<T>: traced with
// the symbolic Tracer it becomes ONNX graphs; run with the Eager float64 backend it is the
// TypeScript reference that tests compare ORT against (micrograd's habit).
import type { Shape } from "./shape.js";

/** Value of the additive causal mask above the diagonal (finite, so softmax never sees NaN). */
export const MASK_NEG = -1e9;

/** sqrt(2/pi) and the cubic coefficient of GELU's tanh approximation (Hendrycks & Gimpel). */
export const GELU_C = Math.sqrt(2 / Math.PI);
export const GELU_A = 0.044715;

/**
 * Differentiable tensor ops over a backend T. Float tensors use the backend's float type; token
 * ids and targets are int32. Shapes are static and checked when an op is applied.
 */
export interface Ops<T> {
  /** Static shape of a tensor. */
  shape(x: T): Shape;
  /** Embedding lookup: table [V,d] at int32 ids [...] gives [..., d]. */
  gather(table: T, ids: T): T;
  /** a + b where b's shape broadcasts onto a's (residuals, position embeddings). */
  add(a: T, b: T): T;
  /** x * c for a constant scalar c. */
  scale(x: T, c: number): T;
  /** Adds MASK_NEG where the key index exceeds the query index ([..., T, T], last two axes). */
  maskCausal(x: T): T;
  /** x [N,K] · w [K,M] (+ b [M]): one Gemm. */
  linear(x: T, w: T, b?: T): T;
  /** Batched matmul [...,M,K] · [...,K,N] with identical batch dims. */
  matmul(a: T, b: T): T;
  reshape(x: T, shape: Shape): T;
  transpose(x: T, perm: readonly number[]): T;
  /** Splits along an axis into parts of the given sizes. */
  split(x: T, axis: number, sizes: readonly number[]): T[];
  /** x[..., start:end] on the last axis. */
  sliceLast(x: T, start: number, end: number): T;
  /** Zero-pads the last axis at its end up to `size`. */
  padLast(x: T, size: number): T;
  /** LayerNorm over the last axis with gain and bias. */
  layerNorm(x: T, gamma: T, beta: T, eps: number): T;
  /** GELU, tanh approximation: 0.5x(1 + tanh(GELU_C (x + GELU_A x^3))). */
  gelu(x: T): T;
  /** Softmax over the last axis. */
  softmax(x: T): T;
  /** Mean over rows of -log softmax(logits)[target]; logits [N,V], int32 targets [N]; scalar. */
  crossEntropy(logits: T, targets: T): T;
}
