// The trace: symbolic tensors, the ONNX nodes that compute them, and the autodiff tape. A Graph
// is append-only; forward and backward graphs are later cut out of it by emit.ts.
import { check, numel, type DType, type FloatType, type Shape } from "./shape.js";

/** Constant payloads: float constants are stored in float64 and narrowed on emission. */
export type ConstData = Float64Array | Int32Array | BigInt64Array | Uint8Array;

/** A symbolic tensor: a graph input, a constant, or an output of a recorded node. */
export class Sym {
  constructor(
    /** Unique id within its graph (tape order). */
    readonly id: number,
    readonly shape: Shape,
    readonly dtype: DType,
    readonly kind: "input" | "const" | "node",
    /** Graph-input name (kind "input"). */
    readonly name: string | undefined,
    /** Constant value (kind "const"). */
    readonly value: ConstData | undefined,
  ) {}
}

/** An ONNX attribute value, tagged so ints and floats stay distinct on emission. */
export type Attr = { readonly i: number } | { readonly f: number } | { readonly ints: readonly number[] } | { readonly s: string };

/** When a node was recorded: during the forward trace or while building gradients. */
export type Phase = "forward" | "backward";

/** One ONNX node (domain ""), referring to symbolic tensors. */
export type OnnxNode = {
  readonly opType: string;
  readonly inputs: readonly Sym[];
  readonly outputs: readonly Sym[];
  readonly attrs: Readonly<Record<string, Attr>>;
  readonly phase: Phase;
};

/** Vector-Jacobian product: output gradients (undefined = zero) to input gradients. */
export type Vjp = (gradOutputs: readonly (Sym | undefined)[]) => readonly (Sym | undefined)[];

/**
 * One differentiable step on the tape. An entry may span several ONNX nodes (a fused op such as
 * cross-entropy); its vjp maps gradients of `outputs` to gradients of `inputs`.
 */
export type TapeEntry = { readonly inputs: readonly Sym[]; readonly outputs: readonly Sym[]; readonly vjp: Vjp };

/** The append-only record of a trace. `float` is the element type of every float tensor. */
export class Graph {
  readonly nodes: OnnxNode[] = [];
  readonly tape: TapeEntry[] = [];
  readonly inputs: Sym[] = [];
  private nextId = 0;
  private readonly inputNames = new Set<string>();
  /** Phase stamped on nodes recorded from now on. */
  phase: Phase = "forward";

  constructor(readonly float: FloatType) {}

  /** Declares a named graph input (a weight, a token batch, an upstream gradient). */
  input(name: string, shape: Shape, dtype: DType = this.float): Sym {
    check(!this.inputNames.has(name), () => `duplicate input name "${name}"`);
    this.inputNames.add(name);
    const s = new Sym(this.nextId++, [...shape], dtype, "input", name, undefined);
    this.inputs.push(s);
    return s;
  }

  /** A constant tensor (emitted as an initializer). Float constants take the graph's float type. */
  constant(shape: Shape, value: ConstData, dtype: DType = this.float): Sym {
    check(value.length === numel(shape), () => `constant has ${value.length} values for shape [${shape.join(",")}]`);
    return new Sym(this.nextId++, [...shape], dtype, "const", undefined, value);
  }

  /** Records one ONNX node and returns its output symbols. */
  node(opType: string, inputs: readonly Sym[], outs: readonly { shape: Shape; dtype: DType }[], attrs: Record<string, Attr> = {}): Sym[] {
    const outputs = outs.map((o) => new Sym(this.nextId++, [...o.shape], o.dtype, "node", undefined, undefined));
    this.nodes.push({ opType, inputs, outputs, attrs, phase: this.phase });
    return outputs;
  }

  /** Records a differentiable step (see TapeEntry). */
  record(inputs: readonly Sym[], outputs: readonly Sym[], vjp: Vjp): void {
    this.tape.push({ inputs, outputs, vjp });
  }
}
