// Exports the whole model for inference: weights baked in as initializers, one int32 input
// "ids" [B,T] and one output "logits" [B,T,V], so plain onnxruntime runs it with no Swarmline code.
import { emitModel, type EmittedModel } from "../autodiff/emit.js";
import type { Sym } from "../autodiff/graph.js";
import { trace } from "../autodiff/trace.js";
import { validateConfig, type GptConfig } from "./config.js";
import { modelLogits } from "./gpt.js";
import { modelParamSpecs, type Params } from "./params.js";

/** Serializes the trained model `params` of config c as a self-contained inference model. */
export const buildInference = (c: GptConfig, params: Params): EmittedModel => {
  validateConfig(c);
  const t = trace("float32");
  const p: Record<string, Sym> = {};
  for (const spec of modelParamSpecs(c)) {
    const v = params[spec.name];
    if (v === undefined) throw new RangeError(`missing parameter "${spec.name}"`);
    // float32 -> float64 -> float32 is exact, so the initializer holds the trained bytes.
    p[spec.name] = t.g.constant(spec.shape, Float64Array.from(v));
  }
  const ids = t.g.input("ids", [c.batch, c.seq], "int32");
  return emitModel(t.g, [ids], { logits: modelLogits(t, c, p, ids) }, "swarmline_gpt");
};
