// Export and import of a run's log as JSONL, against the in-memory EventLog (the NATS round trip
// is in test/cli/log.int.test.ts).
import { Effect, Layer, Stream } from "effect";
import { describe, expect, it } from "vitest";
import { layerMemory } from "../../../src/actors/eventlog/memory.js";
import { EventLog } from "../../../src/actors/eventlog/service.js";
import { exportLog, ImportRefused, importLog } from "../../../src/actors/eventlog/transfer.js";
import { formatLogHeader } from "../../../src/events/jsonl.js";
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
    expect(n).toEqual({ events: 9, refused: 0, reasons: {}, refilled: 0, deleted: [] });
    expect(JSON.parse(lines[0] as string)).toEqual({ swarmline: "log", format: 2, run: RUN, last: 9 });
    expect(lines.slice(1).map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(verifyLog(crypto, registry, lines)).toMatchObject({ ok: true, events: 9, actors: 2 });
  });

  it("writes an unsigned event once a signature covers it, and refuses one that none covers", async () => {
    const alice = signedActor(RUN, "//Alice", 1);
    const bob = signedActor(RUN, "//Bob", 2);
    const { n, lines } = await exported(layerMemory(), Effect.gen(function* () {
      const log = yield* EventLog;
      yield* log.append(RUN, alice.actor, alice.open());
      const batch = alice.ticks(3); // unsigned, unsigned, signed
      yield* log.append(RUN, alice.actor, batch.slice(0, 1));
      yield* log.append(RUN, bob.actor, [...bob.open(), ...bob.ticks(1)]);
      yield* log.append(RUN, alice.actor, batch.slice(1));
      // A process that died mid-batch: its signed last event never landed.
      yield* log.append(RUN, bob.actor, bob.ticks(3).slice(0, 2));
    }));
    expect(n).toEqual({ events: 6, refused: 2, reasons: { Unsigned: 2 }, refilled: 0, deleted: [] });
    const kinds = lines.slice(1).map((l) => ("refused" in (JSON.parse(l) as object) ? "refused" : "event"));
    expect(kinds).toEqual(["event", "event", "event", "event", "event", "event", "refused", "refused"]);
    expect(verifyLog(crypto, registry, lines)).toEqual({ ok: true, events: 6, actors: 2, refused: 2 });
  });

  it("exports an empty run as a header alone", async () => {
    const { n, lines } = await exported(layerMemory(), Effect.void);
    expect(n).toEqual({ events: 0, refused: 0, reasons: {}, refilled: 0, deleted: [] });
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
    // The interrupted import stored the first 4 events (a prefix file; its header cannot promise 9).
    const { result, again } = await importInto(layerMemory(), lines, importLog([formatLogHeader(RUN), ...lines.slice(1, 5)]));
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
    const counted = await importInto(layerMemory(), gap);
    expect(counted.result).toMatchObject({ _tag: "Failure", failure: { _tag: "ImportRefused", line: 1, message: expect.stringContaining("header records 9") as string } });
    const { result } = await importInto(layerMemory(), [formatLogHeader(RUN), ...gap.slice(1)]);
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
