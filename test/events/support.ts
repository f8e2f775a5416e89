// Shared helpers for event tests: a small deterministic signed run and ways to tamper with it.
import { nodeCrypto } from "../../src/actors/identity/index.js";
import { syntheticRun } from "../../src/actors/identity/synthetic-run.js";
import { type Envelope, hashBody } from "../../src/events/envelope.js";
import { formatLogHeader, formatLogLine } from "../../src/events/jsonl.js";
import { buildRegistry } from "../../src/events/registry.js";
import { coreEvents } from "../../src/events/schemas/index.js";

export const crypto = nodeCrypto;
export const registry = buildRegistry(coreEvents);

/** 3 actors, 6 ticks, miners sealing 3 events per append: 4 + 6 + 12 = 22 events. */
export const small = syntheticRun({ run: "t", miners: 2, ticks: 6, batch: 3 });

/** The log of `events` renumbered 1..n in the given order. */
export const logOf = (events: readonly Envelope[], run = "t"): string[] => [formatLogHeader(run), ...events.map((e, i) => formatLogLine(i + 1, e))];

/** The event with a field changed and its hash recomputed (the signature is kept as it was). */
export const rehashed = (e: Envelope, change: Partial<Envelope>): Envelope => {
  const { hash: _h, sig, ...body } = { ...e, ...change };
  const hash = hashBody(crypto, body);
  return sig === undefined ? { ...body, hash } : { ...body, hash, sig };
};

/** Line number (1-based, header = 1) of the i-th event of a log. */
export const lineOf = (i: number): number => i + 2;
