// Where `swarmline payout` reads the scored run and, with --record, records what it paid: an
// exported JSONL file (rewritten through a rename) or a run on a NATS server (one guarded append
// on the validator's subject). On a secured server the validator joins the run through its
// gatekeeper first: reading and appending both need a member's login.
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { Effect, Result } from "effect";
import { readRunLines, RunUnreadable } from "../actors/audit/read-run.js";
import { appendWeightsSubmitted, type RecordBasis, type RecordOptions, recordOnRun } from "../actors/chain/index.js";
import { joinSecuredRun } from "../actors/gatekeeper/join.js";
import type { Hotkey } from "../actors/identity/index.js";
import { makeNatsEventLog } from "../actors/nats/eventlog.js";
import { isBlank, splitLines } from "../events/jsonl.js";
import type { SwarmPayloads } from "../events/swarm/index.js";
import type { PayoutOptions } from "./payout.js";
import { UsageError } from "./run-settings.js";
import { connectOrExplain } from "./swarm-process.js";

/** A refusal payout reports with exit 1; the message says why and what to do. */
export class Refused extends Error {}

export interface RunSource {
  /** The run's log as exported lines, header first. */
  readonly lines: readonly string[];
  /** Where a record lands, for messages: the file, or the run and its server. */
  readonly where: string;
  /**
   * Appends SessionKeyCertified + WeightsSubmitted on the validator's chain and resolves to their
   * stream sequences; rejects with the EventLog's typed error (AppendConflict, ...) having written nothing.
   */
  record(b: RecordBasis, hotkey: Hotkey, payload: SwarmPayloads["WeightsSubmitted"], o: RecordOptions): Promise<readonly number[]>;
  close(): Promise<void>;
}

const fileSource = (file: string): RunSource => {
  let lines: string[];
  try {
    lines = splitLines(readFileSync(file, "utf8"));
  } catch (e) {
    throw new UsageError({ message: `cannot read ${file}: ${e instanceof Error ? e.message : String(e)} (check the --log path)` });
  }
  return {
    lines,
    where: file,
    record: async (b, hotkey, payload, o) => {
      // Rewritten through a rename: a crash mid-write must not leave half a log.
      const next = appendWeightsSubmitted(lines, hotkey, payload, o);
      writeFileSync(`${file}.tmp`, `${next.join("\n")}\n`);
      renameSync(`${file}.tmp`, file);
      return [b.lastSeq + 1, b.lastSeq + 2];
    },
    close: async () => undefined,
  };
};

const natsSource = async (url: string, run: string, secure: boolean, hotkey: Hotkey): Promise<RunSource> => {
  // A joiner may not read a secured run, let alone publish on it: the validator joins as itself.
  const member = secure ? await joinSecuredRun(url, run, hotkey, "validator") : undefined;
  const nc = await connectOrExplain(url, `swarmline-payout-${hotkey.address.slice(0, 12)}`, member);
  try {
    const lines = await readRunLines(url, run, nc);
    if (lines.filter((l) => !isBlank(l)).length <= 1) throw new UsageError({ message: `run ${run} holds no events on ${url} (check --run)` });
    return {
      lines,
      where: `run ${run} on ${url}`,
      record: async (b, hk, payload, o) => {
        // The session that signs the record is the one the server knows this login by.
        const r = await Effect.runPromise(Effect.result(recordOnRun(makeNatsEventLog(nc), b, hk, payload, member === undefined ? o : { ...o, sessionSeed: member.sessionSeed })));
        if (Result.isFailure(r)) throw r.failure;
        return r.success;
      },
      close: () => nc.drain().catch(() => undefined),
    };
  } catch (e) {
    await nc.drain().catch(() => undefined);
    if (e instanceof RunUnreadable) {
      // An unauthenticated client on a secured server is only a joiner: its reads are refused.
      const secured = !secure && /Permissions Violation/i.test(e.message);
      throw new Refused(secured ? `${e.message.split("\n")[0] ?? ""}\n  the server is secured (\`swarmline nats --secure\`): add --secure, and the validator joins the run through its gatekeeper to read and record it` : e.message);
    }
    throw e;
  }
};

/** Opens the payout's run: reads its log whole, and keeps what a record needs (the NATS connection). */
export const openRunSource = (s: NonNullable<PayoutOptions["source"]>, hotkey: Hotkey): Promise<RunSource> =>
  "file" in s ? Promise.resolve(fileSource(s.file)) : natsSource(s.nats, s.run, s.secure, hotkey);
