// Cuts a model out of a traced Graph and serializes it as an ONNX ModelProto (opset 21, IR 10)
// with onnx-buf. Weights stay graph inputs (not initializers) so one model serves every step;
// only trace constants (shapes, masks, vocab ranges) become initializers.
import { create, toBinary } from "@bufbuild/protobuf";
import {
  AttributeProto_AttributeType,
  AttributeProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  TensorProtoSchema,
  TensorShapeProto_DimensionSchema,
  TensorShapeProtoSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from "onnx-buf";
import type { Attr, Graph, OnnxNode, Sym } from "./graph.js";
import { check, numel, ONNX_DTYPE, type DType, type Shape } from "./shape.js";

/** Opset and IR version of every emitted model (ORT 1.30 runs both). */
export const OPSET = 21;
export const IR_VERSION = 10;

/** Name, shape and dtype of a model input or output. */
export type TensorSpec = { readonly name: string; readonly shape: Shape; readonly dtype: DType };

/** A serialized model plus the facts a caller needs to feed it. */
export type EmittedModel = {
  readonly bytes: Uint8Array;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /** Multiply-add FLOPs (2·M·N·K) of the model's MatMul and Gemm nodes. */
  readonly flops: number;
  /** Number of ONNX nodes. */
  readonly nodeCount: number;
};

/** The ONNX name of a symbolic tensor: its input name, or `t<id>` for intermediates. */
export const symName = (s: Sym): string => s.name ?? `t${s.id}`;

/** An ONNX graph input/output declaration of a static-shaped tensor. */
export const valueInfo = (name: string, shape: Shape, dtype: DType): ValueInfoProto =>
  create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, {
      value: {
        case: "tensorType",
        value: create(TypeProto_TensorSchema, {
          elemType: ONNX_DTYPE[dtype],
          shape: create(TensorShapeProtoSchema, {
            dim: shape.map((d) => create(TensorShapeProto_DimensionSchema, { value: { case: "dimValue", value: BigInt(d) } })),
          }),
        }),
      },
    }),
  });

const attribute = (name: string, a: Attr): AttributeProto => {
  if ("i" in a) return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INT, i: BigInt(a.i) });
  if ("f" in a) return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.FLOAT, f: a.f });
  if ("s" in a) return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.STRING, s: new TextEncoder().encode(a.s) });
  return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INTS, ints: a.ints.map((v) => BigInt(v)) });
};

const bytesOf = (s: Sym): Uint8Array<ArrayBuffer> => {
  const v = s.value;
  if (v === undefined) throw new Error(`constant ${symName(s)} has no value`);
  // Typed arrays are little-endian on every platform ORT runs on, which is what raw_data wants.
  const typed = v instanceof Float64Array && s.dtype === "float32" ? Float32Array.from(v) : v;
  return new Uint8Array(typed.buffer.slice(typed.byteOffset, typed.byteOffset + typed.byteLength)) as Uint8Array<ArrayBuffer>;
};

const initializer = (s: Sym): TensorProto =>
  create(TensorProtoSchema, { name: symName(s), dims: s.shape.map((d) => BigInt(d)), dataType: ONNX_DTYPE[s.dtype], rawData: bytesOf(s) });

const nodeFlops = (n: OnnxNode): number => {
  const [a, b] = n.inputs;
  const [y] = n.outputs;
  if (a === undefined || b === undefined || y === undefined) return 0;
  if (n.opType === "MatMul") return 2 * numel(y.shape) * (a.shape[a.shape.length - 1] ?? 0);
  if (n.opType === "Gemm") {
    const transA = "transA" in n.attrs;
    return 2 * numel(y.shape) * ((transA ? a.shape[0] : a.shape[1]) ?? 0);
  }
  return 0;
};

/**
 * Emits the smallest model that computes `outputs` from `feeds`. Feeds may be graph inputs or
 * intermediate tensors (saved activations become inputs of a backward model this way); every
 * graph input the outputs depend on must be fed, else this throws. Feeds keep the given order
 * and are all declared, even when an output does not need one.
 */
export const emitModel = (graph: Graph, feeds: readonly Sym[], outputs: Readonly<Record<string, Sym>>, name = "swarmline"): EmittedModel => {
  const fed = new Set(feeds.map((s) => s.id));
  const producer = new Map<number, number>();
  graph.nodes.forEach((n, i) => n.outputs.forEach((o) => producer.set(o.id, i)));
  const needed = new Set<number>();
  const consts = new Map<number, Sym>();
  const stack = Object.values(outputs);
  const seen = new Set<number>();
  while (stack.length > 0) {
    const s = stack.pop();
    if (s === undefined || seen.has(s.id)) continue;
    seen.add(s.id);
    if (fed.has(s.id)) continue;
    if (s.kind === "input") throw new RangeError(`emitModel(${name}): output depends on input "${symName(s)}" which is not fed`);
    if (s.kind === "const") {
      consts.set(s.id, s);
      continue;
    }
    const ni = producer.get(s.id);
    if (ni === undefined) throw new Error(`emitModel(${name}): no producer for ${symName(s)}`);
    if (needed.has(ni)) continue;
    needed.add(ni);
    stack.push(...(graph.nodes[ni]?.inputs ?? []));
  }
  // Graph outputs take their public names by renaming the producing node's output; a fed tensor,
  // or one already exported under another name, goes through an Identity instead.
  const rename = new Map<number, string>();
  const extra: NodeProto[] = [];
  for (const [outName, s] of Object.entries(outputs)) {
    if (fed.has(s.id) || s.kind !== "node" || rename.has(s.id)) {
      extra.push(create(NodeProtoSchema, { opType: "Identity", input: [rename.get(s.id) ?? symName(s)], output: [outName], name: `out_${outName}` }));
    } else rename.set(s.id, outName);
  }
  const nm = (s: Sym): string => rename.get(s.id) ?? symName(s);
  const nodes: NodeProto[] = [];
  let flops = 0;
  graph.nodes.forEach((n, i) => {
    if (!needed.has(i)) return;
    flops += nodeFlops(n);
    nodes.push(
      create(NodeProtoSchema, {
        opType: n.opType,
        name: `n${i}`,
        input: n.inputs.map(nm),
        output: n.outputs.map(nm),
        attribute: Object.entries(n.attrs).map(([k, a]) => attribute(k, a)),
      }),
    );
  });
  nodes.push(...extra);
  const inputs: TensorSpec[] = feeds.map((s) => ({ name: symName(s), shape: s.shape, dtype: s.dtype }));
  const outs: TensorSpec[] = Object.entries(outputs).map(([n, s]) => ({ name: n, shape: s.shape, dtype: s.dtype }));
  check(new Set(inputs.map((i) => i.name)).size === inputs.length, () => `emitModel(${name}): duplicate feed`);
  const model = create(ModelProtoSchema, {
    irVersion: BigInt(IR_VERSION),
    producerName: "swarmline",
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: "", version: BigInt(OPSET) })],
    graph: create(GraphProtoSchema, {
      name,
      node: nodes,
      input: inputs.map((i) => valueInfo(i.name, i.shape, i.dtype)),
      output: outs.map((o) => valueInfo(o.name, o.shape, o.dtype)),
      initializer: [...consts.values()].sort((a, b) => a.id - b.id).map(initializer),
    }),
  });
  return { bytes: toBinary(ModelProtoSchema, model), inputs, outputs: outs, flops, nodeCount: nodes.length };
};
