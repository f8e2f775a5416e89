// Content-addressed blobs in a JetStream Object Store bucket (one per run): weights, optimizer
// state and merge partitions, named by the sha256 of their bytes and referenced from events. A
// bounded in-process cache serves repeated reads (safe: a name fixes its content).
import { Objm, type ObjectStore, setSha256Backend } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import { buckets } from "../../events/subjects.js";
import { blobRef, type BlobStore, verified } from "../swarm/blob-store.js";

export interface NatsBlobOptions {
  /** Replicas of the bucket's stream (3 on the R3 cluster). */
  readonly replicas?: number;
  /** Bytes of blobs kept in the read cache (default 256 MB). */
  readonly cacheBytes?: number;
}

/**
 * Object Store chunk size: the client's default of 128 KB makes a 1.7 MB stage 14 acknowledged
 * publishes; 1 MiB (nats-server's default max_payload; the client caps it at the server's) makes it 2.
 */
const CHUNK_BYTES = 1024 * 1024;

/** A read cache of recently used blobs, evicting the oldest first past its byte budget. */
class Cache {
  private readonly map = new Map<string, Uint8Array>();
  private bytes = 0;
  constructor(private readonly limit: number) {}
  get(ref: string): Uint8Array | undefined {
    const b = this.map.get(ref);
    if (b !== undefined) {
      this.map.delete(ref);
      this.map.set(ref, b);
    }
    return b;
  }
  set(ref: string, b: Uint8Array): void {
    if (this.map.has(ref) || b.byteLength > this.limit) return;
    this.map.set(ref, b);
    this.bytes += b.byteLength;
    for (const [k, v] of this.map) {
      if (this.bytes <= this.limit) break;
      this.map.delete(k);
      this.bytes -= v.byteLength;
    }
  }
}

/**
 * Opens (creating if needed) the run's blob bucket. Puts are idempotent: a blob already present
 * is not written again, so identical merged weights from many miners are stored once.
 */
export const natsBlobStore = async (nc: NatsConnection, run: string, o: NatsBlobOptions = {}): Promise<BlobStore> => {
  // The client hashes every chunk it puts or gets; its default is a pure-JS sha256 (browser-safe,
  // ~10x slower than node:crypto, and on the thread that drives the pipeline).
  setSha256Backend("native");
  const os: ObjectStore = await new Objm(nc).create(buckets.blobs(run), { replicas: o.replicas ?? 1 });
  const cache = new Cache(o.cacheBytes ?? 256 * 1024 * 1024);
  const known = new Set<string>();
  const inflight = new Map<string, Promise<string>>();
  const has = async (ref: string): Promise<boolean> => {
    if (known.has(ref) || cache.get(ref) !== undefined) return true;
    const info = await os.info(ref);
    if (info !== null && !info.deleted) known.add(ref);
    return known.has(ref);
  };
  return {
    put: (bytes, opts) => {
      const ref = blobRef(bytes);
      const pending = inflight.get(ref);
      if (pending !== undefined) return pending;
      const p = (async () => {
        // Bytes the caller knows are new skip the existence check (one request fewer per put).
        if (known.has(ref)) return ref;
        if (opts?.fresh === true || !(await has(ref))) await os.putBlob({ name: ref, options: { max_chunk_size: CHUNK_BYTES } }, bytes);
        known.add(ref);
        cache.set(ref, bytes.slice());
        return ref;
      })().finally(() => inflight.delete(ref));
      inflight.set(ref, p);
      return p;
    },
    get: async (ref) => {
      const hit = cache.get(ref);
      if (hit !== undefined) return hit.slice();
      const got = await os.getBlob(ref);
      if (got === null) return undefined;
      const b = new Uint8Array(got); // a plain copy (the client may hand back a Buffer view)
      verified(ref, b);
      known.add(ref);
      cache.set(ref, b);
      return b.slice();
    },
    has,
  };
};
