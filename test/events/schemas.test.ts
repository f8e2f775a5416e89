import { Result, Schema } from "effect";
import { describe, expect, it } from "vitest";
import { buildRegistry, defineEvent } from "../../src/events/registry.js";
import { coreEvents } from "../../src/events/schemas/index.js";

const cert = {
  hotkey: "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
  sessionKey: "ab".repeat(32),
  certificate: "cd".repeat(64),
};
const tag = (r: Result.Result<unknown, { _tag: string }>) => (Result.isFailure(r) ? r.failure._tag : "ok");

describe("core event schemas", () => {
  const registry = buildRegistry(coreEvents);

  it("accept a well-formed SessionKeyCertified, RunStarted and ActorCheckpointed", () => {
    expect(tag(registry.decode("SessionKeyCertified", 1, cert))).toBe("ok");
    expect(tag(registry.decode("RunStarted", 1, { seed: 42, stages: 3, description: "tiny" }))).toBe("ok");
    expect(tag(registry.decode("ActorCheckpointed", 1, { through: 9, stateHash: "00".repeat(32), step: 4 }))).toBe("ok");
  });

  it("reject upper-case hex, short signatures, a zero-stage run and missing fields", () => {
    expect(tag(registry.decode("SessionKeyCertified", 1, { ...cert, sessionKey: "AB".repeat(32) }))).toBe("InvalidPayload");
    expect(tag(registry.decode("SessionKeyCertified", 1, { ...cert, certificate: "cd".repeat(63) }))).toBe("InvalidPayload");
    expect(tag(registry.decode("RunStarted", 1, { seed: 1, stages: 0, description: "" }))).toBe("InvalidPayload");
    expect(tag(registry.decode("RunStarted", 1, { seed: 1.5, stages: 2, description: "" }))).toBe("InvalidPayload");
    expect(tag(registry.decode("ActorCheckpointed", 1, { through: 9 }))).toBe("InvalidPayload");
  });

  it("builds one registry from several definition sets, shares re-exported definitions and refuses a clash", () => {
    const extra = [defineEvent("ThingHappened", 1, Schema.Struct({ n: Schema.Number }))];
    const both = buildRegistry(coreEvents, extra);
    expect(both.has("ThingHappened") && both.has("RunStarted")).toBe(true);
    expect(buildRegistry(coreEvents, coreEvents).has("RunStarted")).toBe(true);
    const clash = [defineEvent("RunStarted", 1, Schema.Struct({}))];
    expect(() => buildRegistry(coreEvents, clash)).toThrow(/defined twice/);
  });
});
