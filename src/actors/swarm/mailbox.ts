// A miner's data mailbox: inbound compressed tensors by content ref (verified against the ref, kept
// until the work that needs them runs, acknowledged once the facts they caused are recorded), and
// the outbound tensors its forward/backward produced, held until the fact naming them is sent.
import type { DataMessage } from "../nats/data-channel.js";
import { blobRef } from "./blob-store.js";

interface Inbound {
  bytes: Uint8Array | null;
  readonly lease: string;
  readonly acks: (() => void)[];
}

/**
 * One tensor of one lease. Two leases may carry identical bytes (a freerider passing its input on,
 * an all-zero gradient), so a content ref alone does not name a message.
 */
const key = (lease: string, ref: string): string => `${lease}|${ref}`;

/** Inbound and outbound data of one miner, keyed by (lease, content ref). */
export class Mailbox {
  private readonly inbox = new Map<string, Inbound>();
  private readonly waiters = new Map<string, { lease: string; resolve: (b: Uint8Array | undefined) => void }[]>();
  private readonly outbox = new Map<string, { bytes: Uint8Array; lease: string }>();
  /** Consumed messages waiting for the fact they caused, by lease. */
  private readonly consumed = new Map<string, (() => void)[]>();
  private readonly closed = new Set<string>();
  /** Messages refused because their bytes do not hash to their ref. */
  corrupt = 0;

  /** Takes one inbound message (from the data channel). */
  receive(m: DataMessage): void {
    if (blobRef(m.data) !== m.ref) {
      this.corrupt += 1;
      m.ack();
      return;
    }
    if (this.closed.has(m.lease)) {
      m.ack();
      return;
    }
    const k = key(m.lease, m.ref);
    const known = this.inbox.get(k);
    if (known !== undefined) {
      if (known.bytes === null) m.ack(); // already consumed: a redelivery
      else known.acks.push(m.ack);
      return;
    }
    this.inbox.set(k, { bytes: m.data, lease: m.lease, acks: [m.ack] });
    const ws = this.waiters.get(k);
    if (ws !== undefined) {
      this.waiters.delete(k);
      for (const w of ws) w.resolve(m.data);
    }
  }

  /**
   * The bytes of `ref` for `lease`, once they arrive; undefined if the lease closes first. The
   * message counts as consumed: it is acknowledged when `recorded(lease)` is called.
   */
  take(ref: string, lease: string): Promise<Uint8Array | undefined> {
    const k = key(lease, ref);
    const got = this.inbox.get(k);
    if (got !== undefined && got.bytes !== null) return Promise.resolve(this.consume(k, got));
    if (this.closed.has(lease)) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const ws = this.waiters.get(k) ?? [];
      ws.push({ lease, resolve: (b) => resolve(b === undefined ? undefined : this.consume(k, this.inbox.get(k) as Inbound)) });
      this.waiters.set(k, ws);
    });
  }

  private consume(k: string, e: Inbound): Uint8Array {
    const bytes = e.bytes as Uint8Array;
    e.bytes = null;
    const list = this.consumed.get(e.lease) ?? [];
    list.push(() => {
      for (const a of e.acks) a();
      this.inbox.delete(k);
    });
    this.consumed.set(e.lease, list);
    return bytes;
  }

  /** The facts caused by `lease`'s consumed data are recorded: acknowledge those messages. */
  recorded(lease: string): void {
    const list = this.consumed.get(lease);
    if (list === undefined) return;
    this.consumed.delete(lease);
    for (const f of list) f();
  }

  /** Keeps an outbound tensor until it is sent. */
  hold(ref: string, bytes: Uint8Array, lease: string): void {
    this.outbox.set(key(lease, ref), { bytes, lease });
  }

  /** Removes and returns an outbound tensor. */
  release(ref: string, lease: string): Uint8Array | undefined {
    const k = key(lease, ref);
    const o = this.outbox.get(k);
    this.outbox.delete(k);
    return o?.bytes;
  }

  /** The lease is closed: drop and acknowledge everything of it; waiters get undefined. */
  close(lease: string): void {
    this.closed.add(lease);
    this.recorded(lease);
    for (const [k, e] of this.inbox) if (e.lease === lease) {
      for (const a of e.acks) a();
      this.inbox.delete(k);
    }
    for (const [k, ws] of this.waiters) {
      const mine = ws.filter((w) => w.lease === lease);
      if (mine.length === 0) continue;
      const rest = ws.filter((w) => w.lease !== lease);
      if (rest.length === 0) this.waiters.delete(k);
      else this.waiters.set(k, rest);
      for (const w of mine) w.resolve(undefined);
    }
    for (const [k, o] of this.outbox) if (o.lease === lease) this.outbox.delete(k);
  }

  /** Sizes, for progress and tests. */
  stats(): { readonly inbox: number; readonly outbox: number; readonly waiting: number } {
    return { inbox: this.inbox.size, outbox: this.outbox.size, waiting: this.waiters.size };
  }
}
