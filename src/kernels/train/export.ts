// Exports the trained model for inference: token ids [B,T] (int32) -> logits [B,T,vocab], with
// every parameter baked in as an initializer, so plain onnxruntime runs it with one feed.
// The graph is the model helper's own forward (all stages chained, bottlenecks included),
// traced with cross-entropy swapped for the identity on its logits.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ModelProtoSchema, TensorProto_DataType, TensorProtoSchema } from "onnx-buf";
import { emitModel } from "../autodiff/emit.js";
import type { Sym } from "../autodiff/graph.js";
import type { Ops } from "../autodiff/ops.js";
import { trace } from "../autodiff/trace.js";
import type { GptConfig } from "../model/config.js";
import { stageForward } from "../model/gpt.js";
import { modelParamSpecs, type Params } from "../model/params.js";

/** Builds the inference ONNX model of config `c` (its batch and seq) with `params` baked in. */
export const exportInference = (c: GptConfig, params: Params): Uint8Array => {
  const t = trace("float32");
  const specs = modelParamSpecs(c);
  const syms = specs.map((p) => t.g.input(p.name, p.shape));
  const pmap = Object.fromEntries(specs.map((p, i) => [p.name, syms[i] as Sym]));
  const ids = t.g.input("ids", [c.batch, c.seq], "int32");
  // The last stage ends in crossEntropy(logits, targets); for inference it returns the logits.
  const logitsOps = new Proxy(t, {
    get: (target, key, recv) => (key === "crossEntropy" ? (logits: Sym) => logits : Reflect.get(target, key, recv)),
  }) as Ops<Sym>;
  let x: Sym = ids;
  for (let s = 0; s < c.stages; s++) {
    const last = s === c.stages - 1;
    x = stageForward(last ? logitsOps : t, c, s, pmap, x, last ? ids : undefined);
  }
  const logits = t.reshape(x, [c.batch, c.seq, c.vocab]);
  const emitted = emitModel(t.g, [...syms, ids], { logits }, "swarmline_inference");
  // Move the parameter inputs into initializers.
  const model = fromBinary(ModelProtoSchema, emitted.bytes);
  const graph = model.graph;
  if (graph === undefined) throw new Error("emitted model has no graph");
  const names = new Set(specs.map((p) => p.name));
  graph.input = graph.input.filter((i) => !names.has(i.name));
  for (const p of specs) {
    const v = params[p.name];
    if (v === undefined || v.length !== p.shape.reduce((a, b) => a * b, 1)) throw new RangeError(`parameter ${p.name} is missing or mis-sized`);
    const raw = new Uint8Array(Float32Array.from(v).buffer); // typed arrays are little-endian, as raw_data wants
    graph.initializer.push(create(TensorProtoSchema, { name: p.name, dims: p.shape.map((d) => BigInt(d)), dataType: TensorProto_DataType.FLOAT, rawData: raw }));
  }
  return toBinary(ModelProtoSchema, model);
};
