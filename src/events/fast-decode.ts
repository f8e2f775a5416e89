// A fast path in front of Effect Schema's decoder for the plain JSON payload schemas the vocabulary
// uses (structs, arrays, strings, numbers, literals, unions of primitives, with their checks).
// Effect's decoder costs 3-7 µs per payload here, which is most of a verified replay's time.
import type { SchemaAST } from "effect";

/** The fast path does not vouch for this input: ask Effect's decoder (the authority). */
export const MISS: unique symbol = Symbol("fast-decode miss");

/**
 * A compiled decoder: the decoded value, or MISS. It is one-sided by construction: it returns a
 * value only when Effect's decoder would succeed with an equal value (same keys, same key order,
 * same leaves), and MISS whenever it is unsure (a failure, an excess key, an optional or
 * transformed field, anything it does not compile). So a registry that falls back to Effect on
 * MISS accepts and rejects exactly what Effect alone does; failures keep Effect's messages.
 */
export type FastDecoder = (u: unknown) => unknown;

type Check = SchemaAST.Check<unknown>;
type Filter = Extract<Check, { readonly _tag: "Filter" }>;

/** No parse options: Effect's defaults (first error, excess properties ignored). */
const NO_OPTIONS = {};

const flatFilters = (checks: readonly Check[] | undefined, out: Filter[] = []): Filter[] => {
  for (const c of checks ?? []) {
    if (c._tag === "FilterGroup") flatFilters(c.checks as readonly Check[], out);
    else out.push(c as Filter);
  }
  return out;
};

/** The node's own checks as one predicate (every filter must pass, as Effect requires). */
const checksOf = (ast: SchemaAST.AST): ((u: unknown) => boolean) | undefined => {
  const filters = flatFilters(ast.checks as readonly Check[] | undefined);
  if (filters.length === 0) return undefined;
  return (u) => {
    for (let i = 0; i < filters.length; i++) if ((filters[i] as Filter).run(u, ast, NO_OPTIONS) !== undefined) return false;
    return true;
  };
};

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u);

/** Primitive nodes: the fast answer is exact (rejects exactly what Effect rejects), output = input. */
const PRIMITIVE = new Set(["String", "Number", "Boolean", "Null", "Literal"]);

/**
 * Compiles `ast` into a fast decoder, or undefined when the schema uses anything the fast path
 * does not model (encodings/transformations, optional or mutable-context fields, index signatures,
 * tuples, struct- or array-level checks, declarations, suspensions, oneOf unions, ...).
 */
export const compileFastDecoder = (ast: SchemaAST.AST): FastDecoder | undefined => {
  if (ast.encoding !== undefined || ast.context !== undefined) return undefined;
  if ("encodingChecks" in ast && ast.encodingChecks !== undefined) return undefined;
  const ok = checksOf(ast);
  switch (ast._tag) {
    case "String":
      return ok === undefined ? (u) => (typeof u === "string" ? u : MISS) : (u) => (typeof u === "string" && ok(u) ? u : MISS);
    case "Number":
      return ok === undefined ? (u) => (typeof u === "number" ? u : MISS) : (u) => (typeof u === "number" && ok(u) ? u : MISS);
    case "Boolean":
      return ok === undefined ? (u) => (typeof u === "boolean" ? u : MISS) : undefined;
    case "Null":
      return ok === undefined ? (u) => (u === null ? u : MISS) : undefined;
    case "Literal": {
      const lit = ast.literal;
      if (ok !== undefined || typeof lit === "bigint") return undefined;
      return (u) => (u === lit ? u : MISS);
    }
    case "Objects": {
      if (ok !== undefined || ast.indexSignatures.length > 0) return undefined;
      const names: string[] = [];
      const fields: FastDecoder[] = [];
      for (const p of ast.propertySignatures) {
        if (typeof p.name !== "string" || p.name === "__proto__") return undefined;
        const f = compileFastDecoder(p.type);
        if (f === undefined) return undefined;
        names.push(p.name);
        fields.push(f);
      }
      const n = names.length;
      return (u) => {
        if (!isRecord(u)) return MISS;
        // Exactly the declared keys (Effect would drop an excess key: leave that case to it).
        let keys = 0;
        for (const _ in u) keys += 1;
        if (keys !== n) return MISS;
        const out: Record<string, unknown> = {};
        for (let i = 0; i < n; i++) {
          const name = names[i] as string;
          if (!Object.hasOwn(u, name)) return MISS;
          const v = (fields[i] as FastDecoder)(u[name]);
          if (v === MISS) return MISS;
          out[name] = v;
        }
        return out;
      };
    }
    case "Arrays": {
      if (ok !== undefined || ast.elements.length > 0 || ast.rest.length !== 1) return undefined;
      const item = compileFastDecoder(ast.rest[0] as SchemaAST.AST);
      if (item === undefined) return undefined;
      return (u) => {
        if (!Array.isArray(u)) return MISS;
        const out: unknown[] = new Array<unknown>(u.length);
        for (let i = 0; i < u.length; i++) {
          const v = item(u[i]);
          if (v === MISS) return MISS;
          out[i] = v;
        }
        return out;
      };
    }
    case "Union": {
      // anyOf: Effect returns the first member that succeeds. Members whose fast answer is exact
      // (primitives) return the input itself, so which one matched does not change the output;
      // one non-primitive member (a struct or array, e.g. NullOr(Struct)) is allowed, since no
      // primitive member accepts what it accepts.
      if (ok !== undefined || (ast.options as { readonly mode?: string } | undefined)?.mode === "oneOf") return undefined;
      const members: FastDecoder[] = [];
      let composite = 0;
      for (const t of ast.types) {
        if (!PRIMITIVE.has(t._tag)) composite += 1;
        if (t._tag === "Union" || t._tag === "Unknown" || t._tag === "Any") return undefined;
        const f = compileFastDecoder(t);
        if (f === undefined) return undefined;
        members.push(f);
      }
      if (composite > 1) return undefined;
      return (u) => {
        for (let i = 0; i < members.length; i++) {
          const v = (members[i] as FastDecoder)(u);
          if (v !== MISS) return v;
        }
        return MISS;
      };
    }
    case "Unknown":
      return ok === undefined ? (u) => (u === undefined ? MISS : u) : undefined;
    default:
      return undefined;
  }
};
