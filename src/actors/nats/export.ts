// A run's log exported from NATS with its holes refilled: the facts-stream sequences that hold no
// message (the bus lost them, or they were deleted) are asked of the producers' journals
// (refill.ts) before the export reads the stream, so each copy is written at its hole and the file
// reads as the log was. What no journal refilled is written as a refused line that names the loss.
import { jetstreamManager } from "@nats-io/jetstream";
import { Effect } from "effect";
import { NatsUnavailable } from "../eventlog/errors.js";
import { type ExportSummary, exportLog } from "../eventlog/transfer.js";
import type { NatsConnection } from "./connection.js";
import { ingestMaxBytes } from "./definitions.js";
import { layerNats } from "./eventlog.js";
import { gatherRefills, streamHoles } from "./refill.js";

/** How long an export waits for producers to re-publish lost facts, by default. */
export const EXPORT_REFILL_WAIT_MS = 5_000;

export interface NatsExportOptions {
  /** How long to wait for the producers' copies of lost facts (ms; default 5 s). */
  readonly refillWaitMs?: number;
}

/** Exports `run` from the stream on `nc` (see exportLog), its holes refilled first. */
export const exportFromNats = (
  nc: NatsConnection,
  run: string,
  write: (lines: readonly string[]) => void,
  o: NatsExportOptions = {},
): Effect.Effect<ExportSummary, NatsUnavailable> =>
  Effect.gen(function* () {
    const refills = yield* Effect.tryPromise({
      try: async () => {
        const jsm = await jetstreamManager(nc, { checkAPI: false });
        const holes = await streamHoles(jsm, run).catch(() => []);
        return gatherRefills(nc, run, holes, o.refillWaitMs ?? EXPORT_REFILL_WAIT_MS);
      },
      catch: (e) => new NatsUnavailable({ message: `refill ${run}: ${e instanceof Error ? e.message : String(e)}` }),
    });
    return yield* exportLog(run, write, { maxBytes: ingestMaxBytes(), refills }).pipe(Effect.provide(layerNats(nc)));
  });
