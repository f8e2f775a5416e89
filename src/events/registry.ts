// The vocabulary: every (type, version) the log may hold, its payload schema, and the upcasters
// that lift old versions to the latest, so deciders only ever see the latest shape.
import { Result, Schema } from "effect";

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

/** A set of event definitions; decodes a payload of any known version into the latest one. */
export class EventRegistry {
  private readonly byKey = new Map<string, EventDefinition>();
  private readonly latest = new Map<string, number>();
  private readonly decoders = new Map<string, (u: unknown) => Result.Result<unknown, unknown>>();

  constructor(definitions: Iterable<EventDefinition>) {
    for (const d of definitions) this.add(d);
  }

  add(d: EventDefinition): this {
    const key = `${d.type}@${d.v}`;
    if (this.byKey.has(key)) throw new Error(`event ${key} is defined twice`);
    this.byKey.set(key, d);
    this.decoders.set(key, Schema.decodeUnknownResult(d.schema) as (u: unknown) => Result.Result<unknown, unknown>);
    this.latest.set(d.type, Math.max(this.latest.get(d.type) ?? 0, d.v));
    return this;
  }

  has(type: string): boolean {
    return this.latest.has(type);
  }

  latestVersion(type: string): number | undefined {
    return this.latest.get(type);
  }

  /** Validates a payload at its version and upcasts it to the latest version. */
  decode(type: string, v: number, payload: unknown): Result.Result<{ readonly v: number; readonly payload: unknown }, DecodeFailure> {
    const top = this.latest.get(type);
    if (top === undefined) return Result.fail({ _tag: "UnknownType", type });
    let version = v;
    let value = payload;
    for (;;) {
      const key = `${type}@${version}`;
      const def = this.byKey.get(key);
      const decoder = this.decoders.get(key);
      if (def === undefined || decoder === undefined) return Result.fail({ _tag: "UnknownVersion", type, v: version });
      const r = decoder(value);
      if (Result.isFailure(r)) return Result.fail({ _tag: "InvalidPayload", type, v: version, message: String(r.failure) });
      value = r.success;
      if (version === top) return Result.succeed({ v: version, payload: value });
      if (def.upcast === undefined) return Result.fail({ _tag: "UnknownVersion", type, v: version });
      value = def.upcast(value);
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
