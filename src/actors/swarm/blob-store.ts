// Content-addressed blobs (weights, optimizer state, merge partitions): the interface the swarm
// hosts use, an in-memory implementation for tests, and the float32 <-> bytes helpers. The NATS
// NATS implementation (a blob stream, each writer confined to its own subjects) is src/actors/nats/blobs.ts.
import { createHash } from "node:crypto";
import { Schema } from "effect";

/** A blob's name is the hex sha256 of its bytes, so a ref in an event pins its exact content. */
export const blobRef = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

/** Content-addressed storage. `get` verifies the hash, so a corrupted store cannot feed bad bytes. */
export interface BlobStore {
  /**
   * Stores `bytes` (a no-op when already present) and resolves to its ref. A name that exists is
   * never written over: a reader may be loading it, and its content is fixed by its name.
   */
  put(bytes: Uint8Array, o?: PutOptions): Promise<string>;
  /** The bytes of `ref` (a fresh copy the caller owns), or undefined when absent. Throws BlobCorrupt when they do not hash to `ref`. */
  get(ref: string): Promise<Uint8Array | undefined>;
  /**
   * The bytes of `ref` as the store holds them (no copy: the caller must not change them), or
   * undefined when absent; checked as `get` checks them. For readers of large blobs that only read
   * (a reducer's contributions, a merge's results): a copy per read was most of a merge's garbage.
   */
  read(ref: string, o?: ReadHint): Promise<Uint8Array | undefined>;
  has(ref: string): Promise<boolean>;
}

export interface ReadHint {
  /**
   * Writers expected to hold a copy (a reducer reading a contributor's partition names that
   * contributor): a store that keeps copies per writer tries theirs first, before listing every
   * holder (on NATS a listing costs the server a scan of every blob subject of the run, a direct
   * read of one copy does not). A wrong or forged hint costs a lookup, never a wrong answer: the
   * bytes are still checked, and the other holders tried.
   */
  readonly writers?: readonly string[];
}

export interface PutOptions {
  /**
   * The caller hands the bytes over: it will not change them afterwards, so the store may keep
   * them rather than a copy (a freshly computed result, a weights copy made for the put).
   */
  readonly owned?: boolean;
  /**
   * Stored blobs whose bytes, end to end, are these bytes (a merge's consensus is its accepted
   * results in partition order): a store may record the list instead of a second copy of the
   * bytes. A store that does checks the claim first and stores the bytes themselves when it is false.
   */
  readonly parts?: readonly string[];
  /**
   * The only writers whose copy would be reused instead of storing one (a merge result: the
   * partition's reducers); [] for bytes no other writer holds (a miner's own snapshot). Without it
   * every holder is looked for (a listing of the run's blob subjects on NATS). Either way the put
   * is idempotent: a copy this writer stored already is kept as it is.
   */
  readonly lookIn?: readonly string[];
}

/** PutOptions for bytes made for the put (a weights copy, a fresh result): the store keeps them. */
export const OWNED: PutOptions = { owned: true };

/**
 * Stored bytes that do not hash to their name: the store was written by someone other than an
 * honest writer (anyone may store a copy under its own name that lies about its content). The reader refuses them.
 */
export class BlobCorrupt extends Schema.TaggedError<BlobCorrupt>()("BlobCorrupt", {
  ref: Schema.String,
  message: Schema.String,
}) {}

/** A ref the log names is not in the store: never stored (the NATS blob stream refuses deletes). */
export class BlobMissing extends Schema.TaggedError<BlobMissing>()("BlobMissing", {
  ref: Schema.String,
  message: Schema.String,
}) {}

/** Checks `bytes` against `ref`. */
export const verified = (ref: string, bytes: Uint8Array): Uint8Array => {
  const actual = blobRef(bytes);
  if (actual !== ref) throw new BlobCorrupt({ ref, message: `blob ${ref} does not hash to its name (its ${bytes.byteLength} bytes hash to ${actual}): refused` });
  return bytes;
};

/** An in-memory BlobStore (tests, and a process-local cache in front of the blob stream). */
export const memoryBlobStore = (): BlobStore & { readonly size: () => number } => {
  const blobs = new Map<string, Uint8Array>();
  return {
    put: async (bytes, o) => {
      const ref = blobRef(bytes);
      if (!blobs.has(ref)) blobs.set(ref, o?.owned === true ? bytes : bytes.slice());
      return ref;
    },
    get: async (ref) => {
      const b = blobs.get(ref);
      return b === undefined ? undefined : verified(ref, b).slice();
    },
    read: async (ref) => {
      const b = blobs.get(ref);
      return b === undefined ? undefined : verified(ref, b);
    },
    has: async (ref) => blobs.has(ref),
    size: () => blobs.size,
  };
};

/** The little-endian bytes of a float32 vector (a copy). */
export const f32ToBytes = (x: Float32Array): Uint8Array => new Uint8Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength));

/** The bytes of a float32 vector as a view (no copy): only for vectors nobody changes while the bytes are in use. */
export const f32View = (x: Float32Array): Uint8Array => new Uint8Array(x.buffer, x.byteOffset, x.byteLength);

/** A float32 vector from bytes (a copy; throws on a length that is not a multiple of 4). */
export const bytesToF32 = (b: Uint8Array): Float32Array => {
  if (b.byteLength % 4 !== 0) throw new RangeError(`${b.byteLength} bytes is not a float32 vector`);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

/** Stores a float32 vector; resolves to its ref. */
export const putF32 = (store: BlobStore, x: Float32Array): Promise<string> => store.put(f32ToBytes(x));

/** A float32 vector over `b`: a view when aligned, else a copy. */
const ownedF32 = (b: Uint8Array): Float32Array => {
  if (b.byteLength % 4 !== 0) throw new RangeError(`${b.byteLength} bytes is not a float32 vector`);
  return b.byteOffset % 4 === 0 ? new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4) : bytesToF32(b);
};

/** Loads a float32 vector by ref (the store's fresh copy, not copied again); throws when it is absent. */
export const getF32 = async (store: BlobStore, ref: string): Promise<Float32Array> => {
  const b = await store.get(ref);
  if (b === undefined) throw new BlobMissing({ ref, message: `blob ${ref} is not in the store` });
  return ownedF32(b);
};

/** A float32 vector by ref over the store's own bytes (BlobStore.read: the caller must not change it); throws when it is absent. */
export const readF32 = async (store: BlobStore, ref: string, hint?: ReadHint): Promise<Float32Array> => {
  const b = await store.read(ref, hint);
  if (b === undefined) throw new BlobMissing({ ref, message: `blob ${ref} is not in the store` });
  return ownedF32(b);
};

/** A float32 vector by ref over the store's own bytes (read-only, as readF32), or undefined when it is absent. */
export const findF32 = async (store: BlobStore, ref: string, hint?: ReadHint): Promise<Float32Array | undefined> => {
  const b = await store.read(ref, hint);
  return b === undefined ? undefined : ownedF32(b);
};

/**
 * `load`'s value, or undefined after `report` saw it fail with BlobCorrupt (or BlobMissing, when
 * `missing` is true): for work that can go on without one input, so one forged or deleted blob
 * does not stop the process. Other failures still reject.
 */
export const unlessForged = <A>(load: Promise<A>, report: (e: BlobCorrupt | BlobMissing) => void, missing = false): Promise<A | undefined> =>
  load.catch((e: unknown) => {
    if (!(e instanceof BlobCorrupt || (missing && e instanceof BlobMissing))) throw e;
    report(e);
    return undefined;
  });
