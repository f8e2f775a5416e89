// Loads infra/nats/streams.json, the one source of truth for stream and consumer settings, and
// fills in a run's names and subjects from the subjects module.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { ConsumerConfig, StreamConfig } from "@nats-io/jetstream";
import { streams, subjects } from "../../events/subjects.js";

export const STREAMS_JSON = fileURLToPath(new URL("../../../infra/nats/streams.json", import.meta.url));

type StreamSettings = Omit<Partial<StreamConfig>, "name" | "subjects">;
type ConsumerSettings = Partial<ConsumerConfig>;

interface Definitions {
  readonly streams: { readonly facts: StreamSettings; readonly data: StreamSettings; readonly deadLetter: StreamSettings };
  readonly consumers: { readonly ingest: ConsumerSettings };
  readonly ingest: { readonly max_bytes: number };
}

const withoutComments = <T extends object>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([k]) => !k.startsWith("$"))) as T;

let cached: Definitions | undefined;

/** The parsed definitions (read once per process). */
export const definitions = (): Definitions => {
  if (cached !== undefined) return cached;
  const raw = JSON.parse(readFileSync(STREAMS_JSON, "utf8")) as Definitions;
  for (const k of ["facts", "data", "deadLetter"] as const) {
    if (typeof raw.streams?.[k] !== "object") throw new Error(`${STREAMS_JSON}: streams.${k} is missing`);
  }
  if (typeof raw.consumers?.ingest !== "object") throw new Error(`${STREAMS_JSON}: consumers.ingest is missing`);
  if (typeof raw.ingest?.max_bytes !== "number") throw new Error(`${STREAMS_JSON}: ingest.max_bytes is missing`);
  cached = {
    streams: {
      facts: withoutComments(raw.streams.facts),
      data: withoutComments(raw.streams.data),
      deadLetter: withoutComments(raw.streams.deadLetter),
    },
    consumers: { ingest: withoutComments(raw.consumers.ingest) },
    ingest: raw.ingest,
  };
  return cached;
};

export interface StreamOptions {
  /** Replicas (3 on the cluster of infra/nats/cluster); default from streams.json. */
  readonly replicas?: number;
}

const withReplicas = (s: StreamSettings, o: StreamOptions): StreamSettings =>
  o.replicas === undefined ? s : { ...s, num_replicas: o.replicas };

/** The facts stream of a run: every actor's facts subject. */
export const factsStreamConfig = (run: string, o: StreamOptions = {}): Partial<StreamConfig> & { name: string } => ({
  ...withReplicas(definitions().streams.facts, o),
  name: streams.facts(run),
  subjects: [subjects.factsAll(run)],
});

/**
 * The refill stream of a run: facts re-published from their producers' journals after the facts
 * stream lost them, one subject per (actor, lost stream sequence). Kept like the facts, in a stream
 * of their own so the facts stream's sequences stay the log's positions.
 */
export const refillStreamConfig = (run: string, o: StreamOptions = {}): Partial<StreamConfig> & { name: string } => ({
  ...withReplicas(definitions().streams.facts, o),
  name: streams.refills(run),
  subjects: [subjects.refillsAll(run)],
});

/** The data stream of a run: activations, gradients and merge partitions, kept for a window. */
export const dataStreamConfig = (run: string, o: StreamOptions = {}): Partial<StreamConfig> & { name: string } => ({
  ...withReplicas(definitions().streams.data, o),
  name: streams.data(run),
  subjects: [subjects.dataAll(run)],
});

/** The dead-letter stream of a run: every consumer's refusals. */
export const deadLetterStreamConfig = (run: string, o: StreamOptions = {}): Partial<StreamConfig> & { name: string } => ({
  ...withReplicas(definitions().streams.deadLetter, o),
  name: streams.deadLetter(run),
  subjects: [subjects.deadLetterAll(run)],
});

/** A durable ingest consumer on the run's facts (the IngestGate's input). */
export const ingestConsumerConfig = (run: string, durable: string): Partial<ConsumerConfig> & { durable_name: string } => ({
  ...definitions().consumers.ingest,
  durable_name: durable,
  filter_subject: subjects.factsAll(run),
});

/** The IngestGate's size limit for one fact, bytes. */
export const ingestMaxBytes = (): number => definitions().ingest.max_bytes;
