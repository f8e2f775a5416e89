// Every NATS subject and stream name Swarmline uses, built here and nowhere else. Subjects put
// the publishing actor in its own token so NATS permissions can confine a miner to its own name.

/** Run ids and actor names become subject tokens: letters, digits, `_` and `-` only. */
export const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

export const isToken = (s: string): boolean => TOKEN.test(s);

const token = (kind: string, s: string): string => {
  if (!TOKEN.test(s)) throw new Error(`${kind} ${JSON.stringify(s)} is not a valid subject token (use [A-Za-z0-9_-], 1-64 chars)`);
  return s;
};

/** Data directions on the pipeline: activations flow down, gradients flow back. */
export type DataKind = "act" | "grad" | "part";

export const subjects = {
  /**
   * One actor's facts. A single literal subject per actor, so that an append can carry the
   * expected last subject sequence (nats-server 2.9 ignores it on wildcard subjects): that is the
   * per-actor optimistic concurrency of the hash chain.
   */
  facts: (run: string, actor: string): string => `swl.${token("run", run)}.f.${token("actor", actor)}`,
  /** The actor token of a fact subject of `run` (undefined for any other subject). */
  factsActor: (run: string, subject: string): string | undefined => {
    const prefix = `swl.${token("run", run)}.f.`;
    const rest = subject.startsWith(prefix) ? subject.slice(prefix.length) : "";
    return TOKEN.test(rest) ? rest : undefined;
  },
  /** All facts of a run (the facts stream's subject filter). */
  factsAll: (run: string): string => `swl.${token("run", run)}.f.*`,
  /**
   * Compressed activations / gradients / merge partitions addressed to one actor by another. The
   * sender's token lets NATS permissions confine a miner to data that names it as the sender.
   */
  data: (run: string, kind: DataKind, to: string, from: string): string =>
    `swl.${token("run", run)}.d.${kind}.${token("actor", to)}.${token("actor", from)}`,
  /** Every kind of data addressed to one actor (its inbound data consumer's filter). */
  dataTo: (run: string, to: string): string => `swl.${token("run", run)}.d.*.${token("actor", to)}.*`,
  /** Every kind of data one actor sent (what its permissions let it publish). */
  dataFrom: (run: string, from: string): string => `swl.${token("run", run)}.d.*.*.${token("actor", from)}`,
  dataAll: (run: string): string => `swl.${token("run", run)}.d.>`,
  /**
   * One part of one writer's copy of a blob: chunk `c<i>` or the manifest `m`. The writer's token
   * lets NATS permissions confine each writer to its own copies.
   */
  blob: (run: string, writer: string, ref: string, part: string): string =>
    `swl.${token("run", run)}.b.${writer === "*" ? "*" : token("actor", writer)}.${token("blob", ref)}.${token("part", part)}`,
  /** Every part of every blob one writer stored (what its permissions let it publish). */
  blobsFrom: (run: string, writer: string): string => `swl.${token("run", run)}.b.${token("actor", writer)}.>`,
  /** The blob stream's subject filter. */
  blobsAll: (run: string): string => `swl.${token("run", run)}.b.>`,
  /** Join requests to a secured run's gatekeeper (the only subject an unauthenticated client may publish). */
  join: (run: string): string => `swl.${token("run", run)}.join`,
  /** Join requests of every run (the gatekeeper's subscription). */
  joinAll: "swl.*.join",
  /** The run a join subject names (undefined for any other subject). */
  joinRun: (subject: string): string | undefined => {
    const m = /^swl\.([A-Za-z0-9_-]{1,64})\.join$/.exec(subject);
    return m?.[1];
  },
  /**
   * A copy of one of `actor`'s facts, re-published from its journal because the facts stream lost
   * the original at stream sequence `streamSeq` (the refill stream; see actors/nats/refill.ts).
   */
  refill: (run: string, actor: string, streamSeq: number): string => `swl.${token("run", run)}.r.${token("actor", actor)}.${streamSeq}`,
  /** Every refill one actor published (what its permissions let it publish). */
  refillsFrom: (run: string, actor: string): string => `swl.${token("run", run)}.r.${token("actor", actor)}.*`,
  /** The refill stream's subject filter. */
  refillsAll: (run: string): string => `swl.${token("run", run)}.r.*.*`,
  /** The actor and lost stream sequence a refill subject of `run` names (undefined for any other subject). */
  refillOf: (run: string, subject: string): { readonly actor: string; readonly streamSeq: number } | undefined => {
    const prefix = `swl.${token("run", run)}.r.`;
    const m = subject.startsWith(prefix) ? /^([A-Za-z0-9_-]{1,64})\.([1-9][0-9]{0,15})$/.exec(subject.slice(prefix.length)) : null;
    return m === null ? undefined : { actor: m[1] as string, streamSeq: Number(m[2]) };
  },
  /** Requests to re-publish lost facts from the producers' journals (core NATS, request-reply). */
  refillRequest: (run: string): string => `swl.${token("run", run)}.refill`,
  /** Rejected inbound messages, with the reason, recorded by the consumer that refused them. */
  deadLetter: (run: string, consumer: string): string => `swl.${token("run", run)}.dlq.${token("consumer", consumer)}`,
  deadLetterAll: (run: string): string => `swl.${token("run", run)}.dlq.*`,
} as const;

export const streams = {
  /** The run's facts, kept for good. */
  facts: (run: string): string => `SWL_F_${token("run", run)}`,
  /** Compressed activations and gradients, kept for a validation window. */
  data: (run: string): string => `SWL_D_${token("run", run)}`,
  /** Facts re-published from their producers' journals after the facts stream lost them. */
  refills: (run: string): string => `SWL_R_${token("run", run)}`,
  /** Dead letters: what was refused and why. */
  deadLetter: (run: string): string => `SWL_DLQ_${token("run", run)}`,
  /** Content-addressed weights, optimizer state and merge partitions, each writer's copies under its own subjects. */
  blobs: (run: string): string => `SWL_B_${token("run", run)}`,
} as const;
