// Export and import of a run's log as JSONL, against the in-memory EventLog (the NATS round trip
// is in test/cli/log.int.test.ts).
import { Effect, Layer, Stream } from "effect";
import { describe, expect, it } from "vitest";
import { layerMemory } from "../../../src/actors/eventlog/memory.js";
import { EventLog } from "../../../src/actors/eventlog/service.js";
import { exportLog, ImportRefused, importLog } from "../../../src/actors/eventlog/transfer.js";
import { verifyLog } from "../../../src/events/verify.js";
import { crypto, registry, signedActor } from "./signed.js";

const RUN = "transfer-1";

/** A small signed log: two actors interleaved, appended through the EventLog. */
const populate = Effect.gen(function* () {
  const log = yield* EventLog;
  const alice = signedActor(RUN, "//Alice", 1);
  const bob = signedActor(RUN, "//Bob", 2);
  yield* log.append(RUN, alice.actor, [...alice.open(), ...alice.ticks(3)]);
  yield* log.append(RUN, bob.actor, [...bob.open(), ...bob.ticks(2)]);
  yield* log.append(RUN, alice.actor, alice.ticks(2));
});

const exported = (layer: Layer.Layer<EventLog>, setup: Effect.Effect<unknown, unknown, EventLog>) =>
  Effect.runPromise(
    Effect.provide(
      Effect.gen(function* () {
        yield* setup;
        const lines: string[] = [];
        const n = yield* exportLog(RUN, (ls) => lines.push(...ls));
        return { n, lines };
      }),
      layer,
    ),
  );

describe("log export", () => {
  it("writes a header and every event in stream order, and the result verifies", async () => {
    const { n, lines } = await exported(layerMemory(), populate);
    expect(n).toBe(9);
    expect(JSON.parse(lines[0] as string)).toEqual({ swarmline: "log", format: 1, run: RUN });
    expect(lines.slice(1).map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(verifyLog(crypto, registry, lines)).toMatchObject({ ok: true, events: 9, actors: 2 });
  });

  it("exports an empty run as a header alone", async () => {
    const { n, lines } = await exported(layerMemory(), Effect.void);
    expect(n).toBe(0);
    expect(lines).toHaveLength(1);
  });
});

describe("log import", () => {
  const importInto = (layer: Layer.Layer<EventLog>, lines: string[], before: Effect.Effect<unknown, unknown, EventLog> = Effect.void) =>
    Effect.runPromise(
      Effect.provide(
        Effect.gen(function* () {
          yield* before;
          const result = yield* Effect.result(importLog(lines));
          const again: string[] = [];
          yield* exportLog(RUN, (ls) => again.push(...ls));
          return { result, again };
        }),
        layer,
      ),
    );

  it("reproduces the exported log byte for byte in an empty run", async () => {
    const { lines } = await exported(layerMemory(), populate);
    const { result, again } = await importInto(layerMemory(), [...lines, ""]);
    expect(result).toMatchObject({ _tag: "Success", success: { run: RUN, events: 9, skipped: 0 } });
    expect(again).toEqual(lines);
  });

  it("resumes an interrupted import from the events already there", async () => {
    const { lines } = await exported(layerMemory(), populate);
    const { result, again } = await importInto(layerMemory(), lines, importLog(lines.slice(0, 5)));
    expect(result).toMatchObject({ _tag: "Success", success: { events: 9, skipped: 4 } });
    expect(again).toEqual(lines);
  });

  it("refuses a run that already holds other events, and a file that is not a full export", async () => {
    const { lines } = await exported(layerMemory(), populate);
    const other = await importInto(layerMemory(), lines, Effect.gen(function* () {
      const log = yield* EventLog;
      const carol = signedActor(RUN, "//Charlie", 3);
      yield* log.append(RUN, carol.actor, carol.open());
    }));
    expect(other.result).toMatchObject({ _tag: "Failure", failure: { _tag: "ImportRefused", line: 2 } });

    const gap = [...lines.slice(0, 3), ...lines.slice(4)];
    const { result } = await importInto(layerMemory(), gap);
    expect(result).toMatchObject({ _tag: "Failure", failure: { _tag: "ImportRefused", line: 4 } });
    expect((result as { failure: unknown }).failure).toBeInstanceOf(ImportRefused);

    const garbage = await importInto(layerMemory(), [lines[0] as string, "{not json"]);
    expect(garbage.result).toMatchObject({ _tag: "Failure", failure: { _tag: "ImportRefused", line: 2 } });
  });

  it("keeps stream order across actors when importing", async () => {
    const { lines } = await exported(layerMemory(), populate);
    const layer = layerMemory();
    const order = await Effect.runPromise(
      Effect.provide(
        Effect.gen(function* () {
          yield* importLog(lines);
          const log = yield* EventLog;
          return (yield* Stream.runCollect(log.read(RUN))).map((e) => `${e.envelope.actor.slice(0, 4)}:${e.envelope.seq}`);
        }),
        layer,
      ),
    );
    expect(order).toEqual(lines.slice(1).map((l) => {
      const e = (JSON.parse(l) as { event: { actor: string; seq: number } }).event;
      return `${e.actor.slice(0, 4)}:${e.seq}`;
    }));
  });
});
