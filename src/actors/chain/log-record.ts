// Recording a submission in the run's log: WeightsSubmitted appended to the validator's own
// chain, under a new session key its hotkey certifies (as a restarted actor re-keys), so the log
// still verifies and audits, and an auditor can match each payout with its extrinsic. Sealed once
// here for both destinations: new lines of an exported file (below), or one guarded append onto
// the run's log on NATS (run-record.ts).
import { Result, Schema } from "effect";
import { ActorChain, type ChainHead, sessionCertifiedDraft } from "../../events/chain.js";
import type { Envelope } from "../../events/envelope.js";
import { formatLogHeader, formatLogLine, isBlank, parseLogLines } from "../../events/jsonl.js";
import { subjects } from "../../events/subjects.js";
import type { SwarmPayloads } from "../../events/swarm/index.js";
import { certifySessionKey, type Hotkey, nodeCrypto, type Rng, sessionKey } from "../identity/index.js";
import { certId } from "../swarm/writer.js";

type Submitted = SwarmPayloads["WeightsSubmitted"];

export interface RecordOptions {
  /** The WeightsProposed the submission pays: the new fact's cause. */
  readonly proposal: string;
  /** Wall-clock ms (metadata only). */
  readonly at: number;
  /**
   * 32-byte session key seed; default fresh. On a secured server, the seed of the key the
   * validator logged in with (its membership's): the server takes its publishes as that key's.
   */
  readonly sessionSeed?: Uint8Array;
  /** Certificate nonce randomness (tests); default fresh. */
  readonly rng?: Rng;
}

/** The log cannot take the record: it does not parse, or the hotkey has no chain in it. */
export class RecordRefused extends Schema.TaggedError<RecordRefused>()("RecordRefused", {
  message: Schema.String,
}) {}

/** Where the record goes on the hotkey's chain, read from the run's log as exported lines. */
export interface RecordBasis {
  readonly run: string;
  readonly actor: string;
  /** The hotkey's last fact in the log: the recorded facts continue its chain. */
  readonly head: ChainHead;
  /**
   * Stream sequence of the last message on the hotkey's subject: its last fact, or a message after
   * it the export refused (anyone may publish there on an open server). An append onto the run on
   * NATS expects its subject to still end there.
   */
  readonly subjectSeq: number;
  /** The log's last stream sequence (a file's new lines follow it). */
  readonly lastSeq: number;
  /** The header records the stream's last sequence (an export, format 2): a file's must then move with it. */
  readonly counted: boolean;
  /** The logical step of the log's last fact: the recorded facts carry it. */
  readonly step: number;
  /** What the hotkey already recorded, in log order. */
  readonly submitted: readonly Submitted[];
}

/** The basis of a record by `actor` in the log `lines`; RecordRefused when the actor has no chain there. */
export const recordBasis = (lines: readonly string[], actor: string): RecordBasis => {
  const parsed = parseLogLines(lines);
  if (Result.isFailure(parsed)) throw new RecordRefused({ message: `the log does not parse at line ${parsed.failure.line}: ${parsed.failure.detail}` });
  const { header, entries, refused } = parsed.success;
  const mine = entries.filter((e) => e.event.actor === actor);
  const last = mine[mine.length - 1];
  if (last === undefined) throw new RecordRefused({ message: `${actor} has no chain in this log: only the validator that proposed the weights records their submission` });
  const subject = subjects.facts(header.run, actor);
  // Loops, not Math.max(...xs): a long log would overflow the argument list.
  let subjectSeq = last.seq;
  let lastSeq = 0;
  for (const e of entries) lastSeq = Math.max(lastSeq, e.seq);
  for (const r of refused) {
    lastSeq = Math.max(lastSeq, r.seq);
    if (r.refused.subject === subject) subjectSeq = Math.max(subjectSeq, r.seq);
  }
  return {
    run: header.run,
    actor,
    head: { seq: last.event.seq, hash: last.event.hash },
    subjectSeq,
    lastSeq,
    counted: header.last !== undefined,
    step: entries[entries.length - 1]?.event.step ?? 0,
    submitted: mine.filter((e) => e.event.type === "WeightsSubmitted").map((e) => e.event.payload as Submitted),
  };
};

/** What the basis already records of `window` on `netuid` (a payout recorded before), if anything. */
export const recordedSubmission = (b: RecordBasis, window: number, netuid: number): Submitted | undefined =>
  b.submitted.find((s) => s.window === window && s.netuid === netuid);

/**
 * SessionKeyCertified + WeightsSubmitted sealed onto the basis's chain under a new session key
 * the hotkey certifies. Their ids derive from the window and the extrinsic, so a retried append of
 * the same record is deduplicated by event id (JetStream msgID, within the stream's duplicate
 * window: two minutes by default); a later one is caught by `recordedSubmission` before paying.
 */
export const sealWeightsSubmitted = (b: RecordBasis, hotkey: Hotkey, payload: Submitted, o: RecordOptions): Envelope[] => {
  if (hotkey.address !== b.actor) throw new RecordRefused({ message: `the record basis is ${b.actor}'s chain, not ${hotkey.address}'s` });
  const session = sessionKey(o.sessionSeed);
  const chain = new ActorChain(nodeCrypto, session, b.run, b.actor, b.head);
  const sessionId = `payout-w${payload.window}-${payload.extrinsic.slice(2, 14)}`;
  return chain.seal([
    sessionCertifiedDraft(certifySessionKey(hotkey, b.run, session, o.rng), { id: certId(b.run, b.actor, sessionId), step: b.step, at: o.at }),
    { id: `${b.run}:${b.actor}:${sessionId}:submitted`, type: "WeightsSubmitted", v: 1, step: b.step, at: o.at, cause: [o.proposal], payload },
  ]);
};

/**
 * The log's lines with SessionKeyCertified + WeightsSubmitted appended on `hotkey`'s chain, at the
 * log's last stream position and logical step (and an export's header counting them). RecordRefused
 * when the hotkey has no chain in the log.
 */
export const appendWeightsSubmitted = (lines: readonly string[], hotkey: Hotkey, payload: Submitted, o: RecordOptions): string[] => {
  const b = recordBasis(lines, hotkey.address);
  const sealed = sealWeightsSubmitted(b, hotkey, payload, o);
  const kept = [...lines];
  while (kept.length > 0 && isBlank(kept[kept.length - 1] as string)) kept.pop();
  // An export's header counts its lines (a truncated file shows): it now ends two further on.
  const h = kept.findIndex((l) => !isBlank(l));
  if (b.counted && h >= 0) kept[h] = formatLogHeader(b.run, b.lastSeq + sealed.length);
  return [...kept, ...sealed.map((e, i) => formatLogLine(b.lastSeq + 1 + i, e))];
};
