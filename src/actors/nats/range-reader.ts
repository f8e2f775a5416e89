// A fast in-order read of a stream's stored messages: an ephemeral pull consumer without acks,
// fed batch requests on a core subscription, the next one sent before the open one is done so
// delivery never waits for a request. About 1.3-1.8x the throughput of the client's ordered consumer on replay.
import { type JetStreamManager } from "@nats-io/jetstream";
import { type Msg, type NatsConnection, nuid } from "@nats-io/transport-node";
import { inboxOf } from "./connection.js";
import type { RawEntry } from "../eventlog/service.js";

/** Messages per yielded chunk: small enough that a consumer starts early, large enough to amortise. */
const CHUNK = 1024;
/** Chunks read ahead of a slow consumer before the reader stops asking for more. */
const AHEAD = 16;

export interface RangeRead {
  readonly stream: string;
  readonly filter: string;
  /** First stream sequence to read. */
  readonly from: number;
  /** Last stream sequence to read, inclusive (at most the stream's last sequence). */
  readonly end: number;
  /** Messages per pull request (default 4096). */
  readonly batch?: number;
  /** Longest wait for the next message before giving up, ms (default 10,000). */
  readonly idleMs?: number;
}

/** A delivered message as a RawEntry; its subject is decoded only if someone asks (replay rarely does). */
class StoredMsg implements RawEntry {
  readonly data: Uint8Array;
  constructor(
    readonly seq: number,
    private readonly msg: Msg,
  ) {
    this.data = msg.data;
  }

  get subject(): string {
    return this.msg.subject;
  }
}

/** Scratch for ackNumbers: stream seq, consumer seq, pending. */
const ACK = new Float64Array(3);

/**
 * Reads `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>`
 * from its end into ACK, without splitting it (this runs once per replayed message).
 */
const ackNumbers = (reply: string): boolean => {
  let end = reply.length;
  for (let token = 0; token < 4; token++) {
    let value = 0;
    let scale = 1;
    let i = end - 1;
    for (; i >= 0; i--) {
      const c = reply.charCodeAt(i);
      if (c === 0x2e) break;
      if (c < 0x30 || c > 0x39) return false;
      value += (c - 0x30) * scale;
      scale *= 10;
    }
    if (i < 0 || i === end - 1) return false;
    if (token === 0) ACK[2] = value;
    else if (token === 2) ACK[1] = value;
    else if (token === 3) ACK[0] = value;
    end = i;
  }
  return true;
};

/**
 * Yields the messages of [from, end] in stream order, in chunks of up to 1,024. The next pull
 * request is sent when half of the open one is delivered, so the server never waits for a
 * request, and none while 16 chunks wait for the consumer (memory stays bounded). Throws on a
 * delivery gap (the consumer sequence must advance by one: no acks, so nothing is ever
 * redelivered) or a stall.
 */
export async function* readRange(nc: NatsConnection, jsm: JetStreamManager, r: RangeRead): AsyncGenerator<RawEntry[]> {
  if (r.end < r.from) return;
  const batch = r.batch ?? 4096;
  const chunk = Math.min(batch, CHUNK);
  const name = `swl_rd_${nuid.next()}`;
  await jsm.consumers.add(r.stream, {
    name,
    ack_policy: "none",
    deliver_policy: "by_start_sequence",
    opt_start_seq: Math.max(1, r.from),
    filter_subject: r.filter,
    inactive_threshold: 30_000_000_000,
    mem_storage: true,
    num_replicas: 1,
  });
  const inbox = inboxOf(nc);
  const ready: RawEntry[][] = [];
  let current: RawEntry[] = [];
  /** Messages requested and not yet delivered, over the open pull requests. */
  let owed = 0;
  /** The consumer's pending count after the last delivered message (-1: none delivered yet). */
  let lastPending = -1;
  let lastSeq = r.from - 1;
  let lastCseq = 0;
  let finished = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const signal = (): void => {
    wake?.();
    wake = undefined;
  };
  /**
   * Requests are sized to what is known to exist (the pending count), because nats-server refuses
   * a no-wait request that open requests already cover ("408 Requests Pending"). So the next
   * request goes out while the current one is still delivering, and none is refused.
   */
  const request = (n: number): void => {
    owed += n;
    nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${r.stream}.${name}`, JSON.stringify({ batch: n, no_wait: true }), { reply: inbox });
  };
  /**
   * Half of what is owed delivered: asks for the next part of what exists, up to the range's end,
   * unless the consumer is AHEAD chunks behind (it asks again when it takes one).
   */
  const topUp = (): void => {
    if (finished || failure !== undefined || lastPending < 0) return;
    const wanted = Math.min(batch, lastPending - owed, r.end - lastSeq - owed);
    if (owed <= batch / 2 && wanted > 0 && ready.length < AHEAD) request(wanted);
  };
  const flush = (done: boolean): void => {
    if (current.length > 0) ready.push(current);
    current = [];
    if (done) finished = true;
    signal();
  };
  const onMessage = (err: Error | null, m: Msg): void => {
    if (finished || failure !== undefined) return;
    if (err !== null) {
      failure = err;
      signal();
      return;
    }
    // Status messages (404 no messages, 408 request expired or pending) carry no reply subject: a
    // request ended short. Done if nothing more is known to exist; else ask for what is.
    if (m.reply === undefined || m.reply === "") {
      owed = 0;
      if (lastPending <= 0) flush(true);
      else request(Math.min(batch, lastPending));
      return;
    }
    if (!ackNumbers(m.reply)) {
      failure = new Error(`unexpected reply subject on ${r.stream}: ${m.reply}`);
      signal();
      return;
    }
    const seq = ACK[0] as number;
    const cseq = ACK[1] as number;
    const pending = ACK[2] as number;
    if (cseq !== lastCseq + 1) {
      failure = new Error(`delivery gap on ${r.stream}: consumer seq ${cseq} after ${lastCseq}`);
      signal();
      return;
    }
    lastCseq = cseq;
    owed = Math.max(0, owed - 1);
    lastPending = pending;
    lastSeq = seq;
    current.push(new StoredMsg(seq, m));
    if (seq >= r.end || pending === 0) {
      flush(true);
      return;
    }
    if (current.length >= chunk) flush(false);
    topUp();
  };
  const sub = nc.subscribe(inbox, { callback: onMessage });
  try {
    request(Math.min(batch, r.end - r.from + 1));
    for (;;) {
      while (ready.length > 0) {
        yield ready.shift() as RawEntry[];
        topUp();
      }
      if (failure !== undefined) throw failure;
      if (finished) return;
      topUp();
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(() => {
          failure ??= new Error(`no message from ${r.stream} for ${r.idleMs ?? 10_000} ms`);
          resolve();
        }, r.idleMs ?? 10_000);
      });
      clearTimeout(timer);
    }
  } finally {
    sub.unsubscribe();
    jsm.consumers.delete(r.stream, name).catch(() => undefined);
  }
}
