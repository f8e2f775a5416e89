// What changed between two points of a run: a structural diff of two snapshots. Snapshots key
// miners, leases, merges, workers and validators by id, so a change reads as a named path
// (orchestrator.miners.<id>.status: active -> gone) and an added or removed key is a lease issued
// or closed, a merge opened or completed, a miner that joined.
import type { Position, RunSnapshot } from "./types.js";

export type Json = null | boolean | number | string | readonly Json[] | { readonly [k: string]: Json };

/** One change: the value at `path` before and after (absent on the side where the path does not exist). */
export interface Change {
  readonly path: readonly (string | number)[];
  readonly kind: "added" | "removed" | "changed";
  readonly before?: Json;
  readonly after?: Json;
}

export interface SnapshotDiff {
  readonly from: Position;
  readonly to: Position;
  /** Changes in the snapshot's order (orchestrator, workers, scores), depth first. */
  readonly changes: readonly Change[];
}

const isObject = (x: Json | undefined): x is { readonly [k: string]: Json } => typeof x === "object" && x !== null && !Array.isArray(x);

const walk = (path: readonly (string | number)[], a: Json | undefined, b: Json | undefined, out: Change[]): void => {
  if (a === undefined && b === undefined) return;
  if (a === undefined) return void out.push({ path, kind: "added", after: b as Json });
  if (b === undefined) return void out.push({ path, kind: "removed", before: a });
  if (isObject(a) && isObject(b)) {
    const keys = [...Object.keys(a), ...Object.keys(b).filter((k) => !(k in a))];
    for (const k of keys) walk([...path, k], a[k], b[k], out);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const xs = a as readonly Json[], ys = b as readonly Json[];
    // A list of ids or numbers that grew or shrank (a stage's miners, a partition's reducers) reads
    // better whole than as a shift at every index after the change.
    const flat = (zs: readonly Json[]): boolean => zs.every((z) => z === null || typeof z !== "object");
    if (xs.length !== ys.length && flat(xs) && flat(ys)) return void out.push({ path, kind: "changed", before: a, after: b });
    for (let i = 0; i < Math.max(xs.length, ys.length); i++) walk([...path, i], xs[i], ys[i], out);
    return;
  }
  if (a !== b) out.push({ path, kind: "changed", before: a, after: b });
};

/** The changes from `a` to `b` (positions aside: they are `from` and `to`). */
export const diffSnapshots = (a: RunSnapshot, b: RunSnapshot): SnapshotDiff => {
  const out: Change[] = [];
  const body = (s: RunSnapshot): Json => JSON.parse(JSON.stringify({ run: s.run, orchestrator: s.orchestrator, workers: s.workers, scores: s.scores })) as Json;
  walk([], body(a), body(b), out);
  return { from: a.position, to: b.position, changes: out };
};
