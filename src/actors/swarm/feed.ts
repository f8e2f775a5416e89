// The run feed: one verified reading of a run's facts per process. A durable consumer passes every
// message through the IngestGate (bad input goes to dead letters), the swarm facts are folded into
// the orchestrator view in the order the gate releases them (events/fold-order.ts), and each (fact, view) is handed to the local hosts. Hosts in
// one process (a sim) share a feed, so the log is verified and folded once, not once per host.
import type { Envelope } from "../../events/envelope.js";
import type { SessionCertificate } from "../../events/certificate.js";
import { IngestGate } from "../../events/ingest.js";
import { CERTIFIED } from "../../events/link.js";
import { asSwarmFact, type SwarmFact } from "../../events/swarm/index.js";
import { vocabularyRegistry } from "../../events/vocabulary.js";
import { evolve, initialState, type OrchestratorState } from "../../machines/orchestrator/index.js";
import { nodeCrypto } from "../identity/index.js";
import type { NatsConnection } from "../nats/connection.js";
import { startIngestConsumer, type IngestConsumer } from "../nats/consumer.js";
import { deleteFactsConsumer } from "../nats/consumers.js";
import { ingestMaxBytes } from "../nats/definitions.js";
import { RefillCache } from "../nats/refill.js";

/** How long a feed waits for a lost fact's producer to re-publish it. */
export const REFILL_WAIT_MS = 5_000;

/** A fact, the view folded through it, and where it sits in the stream. */
export interface FeedItem {
  readonly fact: SwarmFact;
  readonly view: OrchestratorState;
  readonly envelope: Envelope;
  readonly streamSeq: number;
}

/** An actor's verified chain head and the stream sequence of its last event. */
export interface FeedHead {
  readonly seq: number;
  readonly hash: string;
  readonly streamSeq: number;
  /** The session key in force at the head ("" before the actor's first event). */
  readonly sessionKey: string;
}

export type FeedListener = (item: FeedItem) => void;

/** The process's verified, folded view of one run. */
export interface RunFeed {
  readonly run: string;
  /** The fold of every swarm fact so far. */
  view(): OrchestratorState;
  /** The last swarm fact folded, if any. */
  lastFact(): SwarmFact | undefined;
  /** Stream sequence of the last message read (its events handled, or held or refused by the gate). */
  position(): number;
  /** Events accepted so far (every type). */
  events(): number;
  /** An actor's head as the feed has seen it (seq 0 when it has none). */
  head(actor: string): FeedHead;
  /** Every actor's head as the feed has seen it. */
  heads(): ReadonlyMap<string, FeedHead>;
  /** Resolves once the feed has handled stream sequence `seq` (0 resolves at once). */
  reached(seq: number): Promise<void>;
  /** Resolves once an event with this id has been accepted. */
  accepted(id: string): Promise<void>;
  /** Adds a listener for the facts from now on; returns its removal. */
  listen(f: FeedListener): () => void;
  stop(): Promise<void>;
  /** Rejects if the consumer failed (a listener threw, or the bus did). */
  readonly done: Promise<void>;
}

let feeds = 0;

/**
 * Starts a feed on `run` from the beginning of its log. `name` must be unique among live feeds.
 * `from`: a listener that sees every fact from the first (registered before reading starts), for
 * a role that folds its own projection of the whole log beside the orchestrator's view (a validator).
 */
export const startRunFeed = async (nc: NatsConnection, run: string, name = `feed-${process.pid}-${Date.now().toString(36)}-${feeds++}`, from?: FeedListener): Promise<RunFeed> => {
  let view = initialState();
  let last: SwarmFact | undefined;
  let position = 0;
  let count = 0;
  const heads = new Map<string, FeedHead>();
  const listeners = new Set<FeedListener>(from === undefined ? [] : [from]);
  const seqWaiters: { seq: number; resolve: () => void }[] = [];
  const idWaiters = new Map<string, (() => void)[]>();
  const seen = new Set<string>();
  const gate = new IngestGate(nodeCrypto, vocabularyRegistry(), { run, maxBytes: ingestMaxBytes() });

  const handle = (events: readonly Envelope[], streamSeq: number): void => {
    for (const e of events) {
      count += 1;
      const sessionKey = e.type === CERTIFIED ? (e.payload as SessionCertificate).sessionKey : (heads.get(e.actor)?.sessionKey ?? "");
      heads.set(e.actor, { seq: e.seq, hash: e.hash, streamSeq, sessionKey });
      const fact = asSwarmFact(e, e.payload);
      if (fact !== undefined) {
        view = evolve(view, fact);
        last = fact;
        const item: FeedItem = { fact, view, envelope: e, streamSeq };
        for (const l of listeners) l(item);
      }
      seen.add(e.id);
      const ws = idWaiters.get(e.id);
      if (ws !== undefined) {
        idWaiters.delete(e.id);
        for (const w of ws) w();
      }
    }
    advanceTo(streamSeq);
  };

  /** The consumer has read up to `streamSeq` (handled, held or refused). */
  const advanceTo = (streamSeq: number): void => {
    if (streamSeq > position) position = streamSeq;
    for (let i = seqWaiters.length - 1; i >= 0; i--) {
      const w = seqWaiters[i] as { seq: number; resolve: () => void };
      if (w.seq <= position) {
        seqWaiters.splice(i, 1);
        w.resolve();
      }
    }
  };

  // A hole in the stream (a fact the bus lost) is asked of its producer's journal; the feed waits
  // for the copy, so it folds the fact where it stood.
  const refills = new RefillCache(nc, run, REFILL_WAIT_MS);
  const refill = (seqs: readonly number[]) => refills.refillsFor(seqs);
  const onHole = (seq: number, copies: number): void => {
    if (copies === 0) process.stderr.write(`feed ${run}: stream seq ${seq} holds no message and no producer's journal refilled it (its actor's later facts cannot be verified)\n`);
  };
  const consumer: IngestConsumer = await startIngestConsumer({ nc, run, name, gate, handle, onPosition: advanceTo, refill, onHole });
  return {
    run,
    view: () => view,
    lastFact: () => last,
    position: () => position,
    events: () => count,
    head: (actor) => heads.get(actor) ?? { seq: 0, hash: "", streamSeq: 0, sessionKey: "" },
    heads: () => new Map(heads),
    reached: (seq) => (seq <= position ? Promise.resolve() : new Promise((resolve) => seqWaiters.push({ seq, resolve }))),
    accepted: (id) =>
      seen.has(id)
        ? Promise.resolve()
        : new Promise((resolve) => {
            const ws = idWaiters.get(id) ?? [];
            ws.push(resolve);
            idWaiters.set(id, ws);
          }),
    listen: (f) => {
      listeners.add(f);
      return () => listeners.delete(f);
    },
    stop: async () => {
      await consumer.stop();
      await deleteFactsConsumer(nc, run, name);
    },
    done: consumer.done,
  };
};
