// Where forward meets backward: the forward tensors a backward graph reads. Keeping them is the
// "keep activations" strategy (forward outputs them, backward takes them as inputs); not
// cutting is "recompute" (backward re-runs the forward nodes it needs).
import type { Graph, Sym } from "./graph.js";

/**
 * Forward-phase node outputs that backward-phase nodes on the way to `outputs` consume, in id
 * order. Graph inputs and constants are not included (they are fed or baked in anyway).
 */
export const savedTensors = (graph: Graph, outputs: readonly Sym[]): Sym[] => {
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
  return [...saved.values()].sort((a, b) => a.id - b.id);
};
