// Content-addressed blobs (weights, optimizer state, merge partitions) in one JetStream stream per
// run, each writer confined to its own subjects: a blob `ref` (the sha256 of its bytes) written
// by `writer` is its chunks `swl.<run>.b.<writer>.<ref>.c<i>` followed by a manifest
// `swl.<run>.b.<writer>.<ref>.m`; a blob whose bytes are other stored blobs end to end (a merge's
// consensus: its results) may instead be a manifest naming those parts, with no chunks, which a
// reader assembles from the parts' own copies and checks against `ref` like any copy. Why not the
// Object Store any more: its records live under subjects derived from the blob's name alone, so
// any client that may write the bucket may write over, roll up or "delete" any name, and nats-server 2.9 permissions cannot tell writers apart.
// Here the writer's token is in the subject, so on a secured server each member may publish only
// `swl.<run>.b.<itself>.>`; and the stream keeps one message per subject and refuses a second
// (discard new per subject), refuses deletes and purges, so nothing stored is ever replaced or
// removed, not even by its writer. Several writers may hold copies of one ref: a reader takes the
// first that hashes to its name and reports any that does not, naming its writer.
import { DiscardPolicy, JetStreamApiCodes, JetStreamApiError, type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager, type StoredMsg } from "@nats-io/jetstream";
import { type NatsConnection, RequestError, TimeoutError } from "@nats-io/transport-node";
import { streams, subjects } from "../../events/subjects.js";
import { BlobCorrupt, blobRef, type BlobStore, type ReadHint, verified } from "../swarm/blob-store.js";
import { streamReplicas } from "./connection.js";
import { ridingThrough } from "./ride-through.js";

export interface NatsBlobOptions {
  /** The actor whose copies this store writes (its hotkey address: the token its permissions allow). */
  readonly writer: string;
  /** Replicas of the stream when this store creates it (default: 3 on a cluster, 1 on a single server). */
  readonly replicas?: number;
  /** Bytes of blobs kept in the read cache (default 256 MB). */
  readonly cacheBytes?: number;
  /** Called with each copy that does not hash to its name (a forgery by its writer), before the next copy is tried. */
  readonly onForged?: (e: BlobCorrupt, writer: string) => void;
}

/** Chunk size: nats-server's default max_payload (1 MiB) makes a 1.7 MB stage 2 publishes. */
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
 * The run's blob stream: one message per subject, a second refused (write once); no deletes, no
 * purges (nothing stored can be taken back); direct gets (reads by subject, from any replica).
 */
export const ensureBlobStream = async (jsm: JetStreamManager, run: string, replicas = 1): Promise<void> => {
  const name = streams.blobs(run);
  try {
    await jsm.streams.info(name);
    return;
  } catch (e) {
    if (!(e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound)) throw e;
  }
  await jsm.streams.add({
    name, subjects: [subjects.blobsAll(run)], num_replicas: replicas,
    max_msgs_per_subject: 1, discard: DiscardPolicy.New, discard_new_per_subject: true, deny_delete: true, deny_purge: true, allow_direct: true,
  }).catch((e: unknown) => {
    // Created meanwhile by another client of the run: fine.
    if (!(e instanceof JetStreamApiError && /already in use/.test(e.message))) throw e;
  });
};

/**
 * A blob's manifest: what its chunks add up to; or, for a blob stored as the concatenation of other
 * stored blobs (`parts`, in order; a merge's consensus is its results end to end), no chunks.
 */
interface Manifest {
  readonly bytes: number;
  readonly chunks: number;
  readonly parts?: readonly string[];
}

const REF = /^[0-9a-f]{64}$/;

const readManifest = (m: StoredMsg): Manifest | undefined => {
  try {
    const x = m.json<Partial<Manifest>>();
    if (!(Number.isInteger(x.bytes) && Number.isInteger(x.chunks) && (x.bytes as number) >= 0 && (x.chunks as number) >= 0)) return undefined;
    if (x.parts === undefined) return x as Manifest;
    return Array.isArray(x.parts) && x.chunks === 0 && x.parts.length > 0 && x.parts.every((r) => typeof r === "string" && REF.test(r)) ? (x as Manifest) : undefined;
  } catch {
    return undefined;
  }
};

/** How deep a composite's parts may themselves be composites (a forged manifest could name its own ref). */
const MAX_PART_DEPTH = 2;

/** The server refuses a second message on a subject: that part of this writer's copy is stored already. */
const alreadyStored = (e: unknown): boolean => e instanceof Error && /maximum messages per subject exceeded/i.test(e.message);

/**
 * A blob request, repeated while it times out or finds no responders (RIDE_THROUGH: a server restarting, a stream electing
 * a leader; before, a reload of the authorization losing a request). Reads are idempotent, and so
 * are this store's writes (a subject takes one message, the same bytes on a retry).
 */
const retried = <A>(f: () => Promise<A>): Promise<A> => ridingThrough(f, (e) => e instanceof TimeoutError || noResponders(e));

/** A publish no stream answered for the moment (the client reports it as "jetstream is not enabled"): a stream electing a leader. */
const noResponders = (e: unknown): boolean => e instanceof Error && e.cause instanceof RequestError && e.cause.isNoResponders();

/**
 * Opens the run's blob store for `writer` (creating the stream when this client may: on a secured
 * server the run's launcher has). Puts are idempotent: a blob this writer stored, or one another
 * writer stored that hashes to its name, is not written again. Gets re-hash every copy.
 */
export const natsBlobStore = async (nc: NatsConnection, run: string, o: NatsBlobOptions): Promise<BlobStore> => {
  const jsm = await jetstreamManager(nc);
  await ensureBlobStream(jsm, run, o.replicas ?? streamReplicas(nc));
  const js: JetStreamClient = jetstream(nc);
  const stream = streams.blobs(run);
  const chunkBytes = Math.min(CHUNK_BYTES, nc.info?.max_payload ?? CHUNK_BYTES);
  /** The largest message the server takes (so the largest chunk any writer could have stored). */
  const maxMessage = nc.info?.max_payload ?? CHUNK_BYTES;
  const cache = new Cache(o.cacheBytes ?? 256 * 1024 * 1024);
  const known = new Set<string>();
  const inflight = new Map<string, Promise<string>>();
  const at = (writer: string, ref: string, part: string): string => subjects.blob(run, writer, ref, part);

  /** The writers holding a manifest for `ref`, this store's own first. */
  const holders = async (ref: string): Promise<string[]> => {
    const info = await retried(() => jsm.streams.info(stream, { subjects_filter: at("*", ref, "m") }));
    const writers = Object.keys(info.state.subjects ?? {}).map((s) => s.split(".")[3] as string);
    return writers.sort((a, b) => Number(b === o.writer) - Number(a === o.writer) || (a < b ? -1 : a > b ? 1 : 0));
  };
  const part = (writer: string, ref: string, p: string): Promise<StoredMsg | null> => retried(() => jsm.direct.getMessage(stream, { last_by_subj: at(writer, ref, p) }));

  /**
   * `writer`'s copy of `ref`: its bytes, or undefined when incomplete (a composite's part not
   * readable counts as incomplete); throws BlobCorrupt when they are not `ref`'s.
   */
  const copyOf = async (writer: string, ref: string, depth = 0): Promise<Uint8Array | undefined> => {
    const m = await part(writer, ref, "m");
    const manifest = m === null ? undefined : readManifest(m);
    if (manifest === undefined) return undefined;
    const out = manifest.parts === undefined ? await chunksOf(writer, ref, manifest) : await partsOf(ref, manifest.parts, manifest.bytes, depth);
    if (out === undefined) return undefined;
    try {
      return verified(ref, out);
    } catch (e) {
      if (e instanceof BlobCorrupt) throw new BlobCorrupt({ ref, message: `${writer}'s copy of blob ${ref} does not hash to its name: refused` });
      throw e;
    }
  };

  const chunksOf = async (writer: string, ref: string, manifest: Manifest): Promise<Uint8Array | undefined> => {
    // No chunk is larger than a message: a manifest claiming more is not allocated for.
    if (manifest.bytes > manifest.chunks * maxMessage) return undefined;
    const out = new Uint8Array(manifest.bytes);
    let off = 0;
    for (let i = 0; i < manifest.chunks; i++) {
      const c = await part(writer, ref, `c${i}`);
      if (c === null || off + c.data.byteLength > out.byteLength) return undefined;
      out.set(c.data, off);
      off += c.data.byteLength;
    }
    return off === out.byteLength ? out : undefined;
  };

  /** A composite's bytes: its parts (each read, and checked, as any blob), end to end. */
  const partsOf = async (ref: string, names: readonly string[], bytes: number, depth: number): Promise<Uint8Array | undefined> => {
    if (depth >= MAX_PART_DEPTH || names.includes(ref)) return undefined;
    const parts: Uint8Array[] = [];
    for (const p of names) {
      const b = cache.get(p) ?? (await fetch(p, depth + 1).catch((e: unknown) => { if (e instanceof BlobCorrupt) return undefined; throw e; }));
      if (b === undefined) return undefined;
      parts.push(b);
    }
    // Sized by the parts read, not by what the manifest claims.
    if (parts.reduce((n, b) => n + b.byteLength, 0) !== bytes) return undefined;
    const out = new Uint8Array(bytes);
    let off = 0;
    for (const b of parts) {
      out.set(b, off);
      off += b.byteLength;
    }
    return out;
  };

  /**
   * The first copy of `ref` that hashes to its name; BlobCorrupt when only forged ones exist,
   * undefined when none. The `hinted` writers' copies are tried first, each one direct read (no
   * listing of the holders, whose cost grows with every blob the run stored); then, unless `only`,
   * every other holder.
   */
  const fetch = async (ref: string, depth = 0, hinted: readonly string[] = [], only = false): Promise<Uint8Array | undefined> => {
    let forged: BlobCorrupt | undefined;
    const tryCopy = async (writer: string): Promise<Uint8Array | undefined> => {
      try {
        return await copyOf(writer, ref, depth);
      } catch (e) {
        if (!(e instanceof BlobCorrupt)) throw e;
        forged ??= e;
        o.onForged?.(e, writer);
        return undefined;
      }
    };
    for (const writer of hinted) {
      const b = await tryCopy(writer);
      if (b !== undefined) return b;
    }
    if (!only) {
      for (const writer of await holders(ref)) {
        if (hinted.includes(writer)) continue;
        const b = await tryCopy(writer);
        if (b !== undefined) return b;
      }
    }
    if (forged !== undefined) throw forged;
    return undefined;
  };

  /**
   * Stores this writer's copy: chunks, then the manifest that makes it readable. A part already
   * stored (a put that failed half way, retried) is left as it is; the copy is then read back, and
   * if it is not these bytes someone else wrote as this writer, which only a server without
   * per-actor permissions allows.
   */
  const write = async (ref: string, bytes: Uint8Array, parts?: readonly string[]): Promise<void> => {
    const composite = parts !== undefined && concatenates(bytes, parts);
    const chunks = composite ? 0 : Math.ceil(bytes.byteLength / chunkBytes);
    let existed = false;
    const publish = (p: string, data: Uint8Array): Promise<unknown> =>
      retried(() => js.publish(at(o.writer, ref, p), data)).catch((e: unknown) => {
        if (!alreadyStored(e)) throw e;
        existed = true;
      });
    // Chunks in flight together (each acknowledged); the manifest only after all of them.
    await Promise.all(Array.from({ length: chunks }, (_, i) => publish(`c${i}`, bytes.subarray(i * chunkBytes, Math.min(bytes.byteLength, (i + 1) * chunkBytes)))));
    await publish("m", new TextEncoder().encode(JSON.stringify({ bytes: bytes.byteLength, chunks, ...(composite ? { parts } : {}) } satisfies Manifest)));
    if (!existed) return;
    const back = await copyOf(o.writer, ref).catch((e: unknown) => { if (e instanceof BlobCorrupt) return undefined; throw e; });
    if (back === undefined)
      throw new BlobCorrupt({ ref, message: `blob ${ref}: ${o.writer}'s own subjects already hold other bytes, so another client wrote as ${o.writer}; run the server with per-actor permissions (--secure)` });
  };

  /**
   * Whether `bytes` are `parts` end to end, each part in this store's cache (stored or read by it,
   * so its bytes were checked against its name): only then is a manifest naming them as good as the bytes.
   */
  const concatenates = (bytes: Uint8Array, parts: readonly string[]): boolean => {
    if (parts.length === 0) return false;
    let off = 0;
    for (const p of parts) {
      const b = cache.get(p);
      if (b === undefined || off + b.byteLength > bytes.byteLength || Buffer.compare(b, bytes.subarray(off, off + b.byteLength)) !== 0) return false;
      off += b.byteLength;
    }
    return off === bytes.byteLength;
  };

  const remember = (ref: string, b: Uint8Array): void => {
    known.add(ref);
    cache.set(ref, b);
  };

  /** The cached bytes of `ref`, fetched (and cached) on a miss. */
  const read = async (ref: string, hint?: ReadHint): Promise<Uint8Array | undefined> => {
    const hit = cache.get(ref);
    if (hit !== undefined) return hit;
    const b = await fetch(ref, 0, hint?.writers);
    if (b !== undefined) remember(ref, b);
    return b;
  };

  return {
    put: (bytes, po) => {
      const ref = blobRef(bytes);
      const pending = inflight.get(ref);
      if (pending !== undefined) return pending;
      const p = (async () => {
        if (known.has(ref)) return ref;
        // A copy that reads back (ours, or another writer's: nobody can take it back) is enough,
        // looked for among `lookIn` only when given (write keeps a copy already ours either way).
        const look = po?.lookIn;
        const stored = look?.length === 0 ? undefined : await fetch(ref, 0, look, look !== undefined).catch((e: unknown) => { if (e instanceof BlobCorrupt) return undefined; throw e; });
        if (stored === undefined) await write(ref, bytes, po?.parts);
        remember(ref, po?.owned === true ? bytes : bytes.slice());
        return ref;
      })().finally(() => inflight.delete(ref));
      inflight.set(ref, p);
      return p;
    },
    get: async (ref) => (await read(ref))?.slice(),
    read,
    has: async (ref) => {
      if (known.has(ref) || cache.get(ref) !== undefined) return true;
      return (await holders(ref)).length > 0;
    },
  };
};
