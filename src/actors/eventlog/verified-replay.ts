// Verified replay of a run straight from the EventLog: the main thread reads stored messages and
// a worker thread parses and verifies them (LogVerifier), so reading and checking overlap on two
// cores. The verdict is the same as verifyLog over an export of the run.
import { Worker } from "node:worker_threads";
import { Effect, Stream } from "effect";
import type { VerifyResult } from "../../events/verify.js";
import { NatsUnavailable } from "./errors.js";
import { EventLog, type RawEntry } from "./service.js";
import type { FromVerifier, ToVerifier } from "./verify-protocol.js";

const bootUrl = new URL("./verify-worker-boot.mjs", import.meta.url);

export interface VerifyWorkerOptions {
  /** Module (URL) exporting a function that returns the EventRegistry; default: the whole vocabulary. */
  readonly registryModule?: string;
  readonly registryExport?: string;
}

/**
 * A verifying worker thread with its registry loaded. Booting one costs ~0.6 s here (its own
 * module graph), so start it once, early (beside connecting to NATS), and reuse it per replay.
 */
export interface VerifyWorker {
  post(m: ToVerifier, transfer?: ArrayBuffer[]): void;
  next(kind: FromVerifier["kind"]): Promise<FromVerifier>;
  stop(): Promise<void>;
}

/** Starts a verify worker and resolves once its registry is loaded. */
export const startVerifyWorker = async (o: VerifyWorkerOptions = {}): Promise<VerifyWorker> => {
  const worker = new Worker(bootUrl);
  const replies: FromVerifier[] = [];
  const waiters: ((m: FromVerifier) => void)[] = [];
  let dead: Error | undefined;
  let stopping = false;
  worker.on("message", (m: FromVerifier) => {
    const w = waiters.shift();
    if (w !== undefined) w(m);
    else replies.push(m);
  });
  const die = (e: Error): void => {
    dead = e;
    for (const w of waiters.splice(0)) w({ kind: "error", message: e.message });
  };
  worker.on("error", die);
  worker.on("exit", (code) => {
    if (!stopping) die(new Error(`verify worker exited (${code})`));
  });
  const raw = (): Promise<FromVerifier> =>
    dead !== undefined
      ? Promise.resolve({ kind: "error", message: dead.message })
      : replies.length > 0
        ? Promise.resolve(replies.shift() as FromVerifier)
        : new Promise((resolve) => waiters.push(resolve));
  const vw: VerifyWorker = {
    post: (m, transfer = []) => worker.postMessage(m, transfer),
    next: async (kind) => {
      const m = await raw();
      if (m.kind === "error") throw new Error(m.message);
      if (m.kind !== kind) throw new Error(`verify worker answered ${m.kind}, expected ${kind}`);
      return m;
    },
    stop: async () => {
      stopping = true;
      await worker.terminate();
    },
  };
  vw.post({
    kind: "load",
    registryModule: o.registryModule ?? new URL("../../events/vocabulary.ts", import.meta.url).href,
    registryExport: o.registryExport ?? "vocabularyRegistry",
  });
  try {
    await vw.next("ready");
  } catch (e) {
    await vw.stop();
    throw e;
  }
  return vw;
};

const pack = (chunk: readonly RawEntry[]): { msg: ToVerifier; transfer: ArrayBuffer[] } => {
  let total = 0;
  for (const e of chunk) total += e.data.byteLength;
  const seqs = new Float64Array(chunk.length);
  const offsets = new Uint32Array(chunk.length + 1);
  const bytes = new Uint8Array(total);
  let at = 0;
  chunk.forEach((e, i) => {
    seqs[i] = e.seq;
    offsets[i] = at;
    bytes.set(e.data, at);
    at += e.data.byteLength;
  });
  offsets[chunk.length] = at;
  return { msg: { kind: "chunk", seqs, offsets, bytes }, transfer: [seqs.buffer, offsets.buffer, bytes.buffer] };
};

export interface VerifiedReplayOptions extends VerifyWorkerOptions {
  /** A started worker to reuse (it stays running); default: one started and stopped for this replay. */
  readonly worker?: VerifyWorker;
  /** Verify every signature present, not only chain heads (see VerifyOptions). */
  readonly fullSignatures?: boolean;
  /** Chunks in flight to the worker before the reader waits (default 8). */
  readonly window?: number;
}

/**
 * Reads the whole run (as it stands when the replay starts) and verifies it: stream order, shapes,
 * schemas, hashes, chains, certificates, causes, duplicates, head signatures.
 */
export const verifiedReplay = (run: string, o: VerifiedReplayOptions = {}): Effect.Effect<VerifyResult, NatsUnavailable, EventLog> => {
  const call = <A>(f: () => Promise<A>) =>
    Effect.tryPromise({ try: f, catch: (e) => new NatsUnavailable({ message: `verify worker: ${e instanceof Error ? e.message : String(e)}` }) });
  return Effect.acquireUseRelease(
    o.worker === undefined ? call(() => startVerifyWorker(o)) : Effect.succeed(o.worker),
    (w) =>
      Effect.gen(function* () {
        const log = yield* EventLog;
        const window = o.window ?? 8;
        let inFlight = 0;
        w.post({ kind: "start", run, fullSignatures: o.fullSignatures ?? false });
        yield* call(() => w.next("started"));
        yield* log.readRaw(run).pipe(
          Stream.runForEachArray((chunk) =>
            Effect.gen(function* () {
              const { msg, transfer } = pack(chunk);
              w.post(msg, transfer);
              inFlight += 1;
              while (inFlight > window) {
                yield* call(() => w.next("done-chunk"));
                inFlight -= 1;
              }
            }),
          ),
        );
        for (; inFlight > 0; inFlight--) yield* call(() => w.next("done-chunk"));
        w.post({ kind: "end" });
        const r = yield* call(() => w.next("result"));
        return (r as Extract<FromVerifier, { kind: "result" }>).result;
      }),
    (w) => (o.worker === undefined ? Effect.promise(() => w.stop()) : Effect.void),
  );
};
