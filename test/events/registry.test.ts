import { Result, Schema } from "effect";
import { describe, expect, it } from "vitest";
import { defineEvent, EventRegistry } from "../../src/events/registry.js";

const V1 = defineEvent("ThingHappened", 1, Schema.Struct({ n: Schema.Number }), (p) => ({ n: p.n, unit: "items" }));
const V2 = defineEvent("ThingHappened", 2, Schema.Struct({ n: Schema.Number, unit: Schema.String }));

describe("EventRegistry", () => {
  const registry = new EventRegistry([V1, V2]);

  it("upcasts an old version to the latest", () => {
    const r = registry.decode("ThingHappened", 1, { n: 3 });
    expect(Result.isSuccess(r) && r.success).toEqual({ v: 2, payload: { n: 3, unit: "items" } });
  });

  it("rejects an unknown type, an unknown version and an invalid payload by name", () => {
    const tag = (r: ReturnType<typeof registry.decode>) => (Result.isFailure(r) ? r.failure._tag : "ok");
    expect(tag(registry.decode("Nope", 1, {}))).toBe("UnknownType");
    expect(tag(registry.decode("ThingHappened", 9, { n: 1 }))).toBe("UnknownVersion");
    expect(tag(registry.decode("ThingHappened", 2, { n: "x", unit: "u" }))).toBe("InvalidPayload");
  });

  it("refuses a definition given twice", () => {
    expect(() => new EventRegistry([V2, V2])).toThrow(/defined twice/);
  });
});
