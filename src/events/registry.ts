// The vocabulary: every (type, version) the log may hold, its payload schema, and the upcasters
// that lift old versions to the latest, so deciders only ever see the latest shape.
import { Result, Schema } from "effect";
import { compileFastDecoder, type FastDecoder, MISS } from "./fast-decode.js";

/** One published (type, version) of a fact. A published definition never changes. */
export interface EventDefinition<T extends string = string, P = unknown> {
  readonly type: T;
  readonly v: number;
  readonly schema: Schema.Codec<P, unknown>;
  /** Lifts a payload of this version to version v + 1; absent on the latest version. */
  upcast?(payload: P): unknown;
}

/** Declares one version of a fact. */
export const defineEvent = <T extends string, S extends Schema.Top>(
  type: T,
  v: number,
  schema: S,
  upcast?: (payload: S["Type"]) => unknown,
): EventDefinition<T, S["Type"]> =>
  ({ type, v, schema: schema as unknown as Schema.Codec<S["Type"], unknown>, ...(upcast ? { upcast } : {}) });

export type DecodeFailure =
  | { readonly _tag: "UnknownType"; readonly type: string }
  | { readonly _tag: "UnknownVersion"; readonly type: string; readonly v: number }
  | { readonly _tag: "InvalidPayload"; readonly type: string; readonly v: number; readonly message: string };

/** One (type, version): its definition, Effect's decoder, and the fast path in front of it. */
interface Versioned {
  readonly def: EventDefinition;
  readonly decode: (u: unknown) => Result.Result<unknown, unknown>;
  readonly fast: FastDecoder | undefined;
}

/** A set of event definitions; decodes a payload of any known version into the latest one. */
export class EventRegistry {
  private readonly byType = new Map<string, { latest: number; readonly versions: Map<number, Versioned> }>();

  constructor(definitions: Iterable<EventDefinition>) {
    for (const d of definitions) this.add(d);
  }

  add(d: EventDefinition): this {
    let t = this.byType.get(d.type);
    if (t?.versions.has(d.v) === true) throw new Error(`event ${d.type}@${d.v} is defined twice`);
    if (t === undefined) {
      t = { latest: d.v, versions: new Map() };
      this.byType.set(d.type, t);
    }
    const decode = Schema.decodeUnknownResult(d.schema) as (u: unknown) => Result.Result<unknown, unknown>;
    t.versions.set(d.v, { def: d, decode, fast: compileFastDecoder(d.schema.ast) });
    t.latest = Math.max(t.latest, d.v);
    return this;
  }

  has(type: string): boolean {
    return this.byType.has(type);
  }

  latestVersion(type: string): number | undefined {
    return this.byType.get(type)?.latest;
  }

  /**
   * Validates a payload at its version and upcasts it to the latest version. Plain schemas are
   * checked by a compiled fast path first (fast-decode.ts: it answers only when Effect would
   * give the same value); anything else, and every failure, goes through Effect's decoder.
   */
  decode(type: string, v: number, payload: unknown): Result.Result<{ readonly v: number; readonly payload: unknown }, DecodeFailure> {
    const t = this.byType.get(type);
    if (t === undefined) return Result.fail({ _tag: "UnknownType", type });
    let version = v;
    let value = payload;
    for (;;) {
      const entry = t.versions.get(version);
      if (entry === undefined) return Result.fail({ _tag: "UnknownVersion", type, v: version });
      const fast = entry.fast === undefined ? MISS : entry.fast(value);
      if (fast !== MISS) value = fast;
      else {
        const r = entry.decode(value);
        if (Result.isFailure(r)) return Result.fail({ _tag: "InvalidPayload", type, v: version, message: String(r.failure) });
        value = r.success;
      }
      if (version === t.latest) return Result.succeed({ v: version, payload: value });
      if (entry.def.upcast === undefined) return Result.fail({ _tag: "UnknownVersion", type, v: version });
      value = entry.def.upcast(value);
      version += 1;
    }
  }
}

/**
 * One registry from several definition sets (core facts, swarm facts, ...). The same definition
 * object may appear in several sets (a set may re-export a core fact); two different definitions
 * of one (type, version) are a programming error and throw.
 */
export const buildRegistry = (...sets: ReadonlyArray<Iterable<EventDefinition>>): EventRegistry =>
  new EventRegistry(new Set(sets.flatMap((s) => [...s])));
