// Where forward meets backward: the forward tensors a backward graph reads. Keeping them is the
// "keep activations" strategy (forward outputs them, backward takes them as inputs); not
// cutting is "recompute" (backward re-runs the forward nodes it needs). Between the two, a cheap
// node whose inputs are kept anyway (a Gelu of a kept Gemm output, a LayerNormalization of a kept
// residual) is re-run by the backward rather than kept: its outputs cost a copy out of the
// runtime and a buffer between the runs, while re-running it costs a pass over memory the
// backward reads anyway.
import type { Graph, Sym } from "./graph.js";

/**
 * Ops a backward re-runs instead of keeping their outputs, when every input of the node is kept,
 * fed or constant: elementwise maps and normalizations (one pass over their input, no reduction
 * across tokens), whose outputs are as large as their inputs or larger.
 */
export const RECOMPUTED: ReadonlySet<string> = new Set(["Gelu", "LayerNormalization"]);

/**
 * Forward-phase node outputs that backward-phase nodes on the way to `outputs` consume, in id
 * order, except outputs of `recompute` ops (default RECOMPUTED; empty: keep every one) whose
 * inputs are all kept: the backward graph then contains that node (emitModel takes every node
 * between its feeds and outputs). The condition is the node's, so a node's outputs are all kept or
 * all re-run, never fed and produced at once. Graph inputs and constants are not included (they
 * are fed or baked in anyway).
 */
export const savedTensors = (graph: Graph, outputs: readonly Sym[], recompute: ReadonlySet<string> = RECOMPUTED): Sym[] => {
  const producer = new Map<number, (typeof graph.nodes)[number]>();
  for (const n of graph.nodes) for (const o of n.outputs) producer.set(o.id, n);
  const saved = new Map<number, Sym>();
  const seen = new Set<number>();
  const stack = [...outputs];
  while (stack.length > 0) {
    const s = stack.pop();
    if (s === undefined || seen.has(s.id) || s.kind !== "node") continue;
    seen.add(s.id);
    const n = producer.get(s.id);
    if (n === undefined) continue;
    if (n.phase === "forward") saved.set(s.id, s);
    else stack.push(...n.inputs);
  }
  const kept = (s: Sym): boolean => s.kind !== "node" || saved.has(s.id);
  const recomputed = new Set<number>();
  // In id order (a node's inputs come first); only nodes whose inputs stay kept are re-run.
  for (const s of [...saved.values()].sort((a, b) => a.id - b.id)) {
    const n = producer.get(s.id);
    if (n !== undefined && recompute.has(n.opType) && n.inputs.every((i) => kept(i) && !recomputed.has(i.id))) recomputed.add(s.id);
  }
  return [...saved.values()].filter((s) => !recomputed.has(s.id)).sort((a, b) => a.id - b.id);
};
