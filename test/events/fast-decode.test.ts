import fc from "fast-check";
import { Result, Schema, type SchemaAST } from "effect";
import { describe, expect, it } from "vitest";
import { compileFastDecoder, type FastDecoder, MISS } from "../../src/events/fast-decode.js";
import { allEvents } from "../../src/events/vocabulary.js";

/** Values shaped by `ast`: mostly valid, with wrong types, missing and extra keys mixed in. */
const shaped = (ast: SchemaAST.AST): fc.Arbitrary<unknown> => {
  const noise = fc.oneof(fc.jsonValue(), fc.constant(undefined), fc.constant(-0), fc.constant(Number.NaN), fc.double());
  const valid = ((): fc.Arbitrary<unknown> => {
    switch (ast._tag) {
      case "String": {
        // Strings matching the node's own pattern (when it has one) half of the time.
        const patterns = (ast.checks ?? []).flatMap((c) => {
          const p = (c.annotations as { readonly arbitraryConstraint?: { readonly patterns?: { source: string }[] } } | undefined)?.arbitraryConstraint?.patterns;
          return (p ?? []).map((x) => fc.stringMatching(new RegExp(x.source)));
        });
        return fc.oneof(fc.string(), fc.stringMatching(/^[0-9a-f]{64}$/), ...patterns, ...patterns, ...patterns);
      }
      case "Number":
        return fc.oneof(
          { arbitrary: fc.nat(), weight: 12 },
          { arbitrary: fc.integer({ min: -3, max: 3 }), weight: 4 },
          { arbitrary: fc.integer(), weight: 2 },
          { arbitrary: fc.double({ noNaN: true }), weight: 1 },
          { arbitrary: fc.constant(1.5), weight: 1 },
        );
      case "Literal":
        return fc.oneof(fc.constant(ast.literal), fc.string({ maxLength: 3 }));
      case "Null":
        return fc.constant(null);
      case "Objects": {
        const fields = Object.fromEntries(ast.propertySignatures.map((p) => [String(p.name), shaped(p.type)]));
        return fc.tuple(fc.record(fields), fc.nat(29), fc.jsonValue()).map(([r, k, extra]) => {
          const names = Object.keys(r);
          if (k === 0 && names.length > 0) {
            const { [names[0] as string]: _, ...rest } = r;
            return rest;
          }
          if (k === 1) return { ...r, extra };
          if (k === 2) return Object.fromEntries(Object.entries(r).reverse());
          return r;
        });
      }
      case "Arrays":
        return fc.array(shaped(ast.rest[0] as SchemaAST.AST), { maxLength: 4 });
      case "Union":
        return fc.oneof(...ast.types.map(shaped));
      default:
        return fc.jsonValue();
    }
  })();
  return fc.oneof({ arbitrary: valid, weight: 39 }, { arbitrary: noise, weight: 1 });
};

/** Checks the one-sided contract on `runs` values; returns how many the fast path answered. */
const agree = (schema: Schema.Top, fast: FastDecoder, runs: number): number => {
  const effect = Schema.decodeUnknownResult(schema as Schema.Codec<unknown, unknown>);
  let hits = 0;
  fc.assert(
    fc.property(shaped(schema.ast), (u) => {
      const f = fast(u);
      if (f === MISS) return;
      hits += 1;
      const r = effect(u);
      expect(Result.isSuccess(r)).toBe(true);
      const value = Result.isSuccess(r) ? r.success : undefined;
      expect(f).toEqual(value);
      // Same keys in the same order, all the way down.
      expect(JSON.stringify(f)).toBe(JSON.stringify(value));
    }),
    { numRuns: runs, seed: 7 },
  );
  return hits;
};

describe("the fast payload decoder", () => {
  it("compiles every schema of the vocabulary", () => {
    const missing = allEvents.filter((d) => compileFastDecoder(d.schema.ast) === undefined).map((d) => `${d.type}@${d.v}`);
    expect(missing).toEqual([]);
  });

  it("answers only what Effect's decoder accepts, with the same value and key order", () => {
    for (const d of allEvents) {
      const fast = compileFastDecoder(d.schema.ast) as FastDecoder;
      const hits = agree(d.schema as unknown as Schema.Top, fast, 300);
      // The property must exercise the fast path, not only its misses.
      expect(hits, `${d.type}@${d.v}`).toBeGreaterThan(10);
    }
  });

  it("leaves excess keys, failures and non-JSON values to Effect", () => {
    const fast = compileFastDecoder(Schema.Struct({ n: Schema.Int, s: Schema.NullOr(Schema.String) }).ast) as FastDecoder;
    expect(fast({ n: 1, s: null })).toEqual({ n: 1, s: null });
    expect(fast({ s: "x", n: 2 })).toEqual({ n: 2, s: "x" });
    expect(fast({ n: 1, s: null, x: 0 })).toBe(MISS);
    expect(fast({ n: 1.5, s: null })).toBe(MISS);
    expect(fast({ n: 1 })).toBe(MISS);
    expect(fast([1])).toBe(MISS);
    expect(fast(null)).toBe(MISS);
  });

  it("does not compile what it does not model: optional fields, transformations, oneOf unions, tuples", () => {
    expect(compileFastDecoder(Schema.Struct({ a: Schema.optional(Schema.String) }).ast)).toBeUndefined();
    expect(compileFastDecoder(Schema.Struct({ a: Schema.NumberFromString }).ast)).toBeUndefined();
    expect(compileFastDecoder(Schema.Union([Schema.String, Schema.Number], { mode: "oneOf" }).ast)).toBeUndefined();
    expect(compileFastDecoder(Schema.Tuple([Schema.String, Schema.Number]).ast)).toBeUndefined();
    expect(compileFastDecoder(Schema.Union([Schema.Struct({ a: Schema.String }), Schema.Struct({ a: Schema.String, b: Schema.String })]).ast)).toBeUndefined();
  });

  it("agrees with Effect on unions of primitives and on a nullable struct", () => {
    for (const s of [
      Schema.Union([Schema.Literal("a"), Schema.Literal(1), Schema.Null, Schema.Int.check(Schema.isGreaterThanOrEqualTo(5))]),
      Schema.NullOr(Schema.Struct({ x: Schema.Array(Schema.Number) })),
    ]) {
      const fast = compileFastDecoder(s.ast) as FastDecoder;
      expect(agree(s as unknown as Schema.Top, fast, 500)).toBeGreaterThan(10);
    }
  });
});
