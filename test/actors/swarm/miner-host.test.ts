// The miner host's leave: its MinerLeft is stored even when the feed hands the host another fact
// between the leave and the append (the feed delivers buffered facts between microtasks; three
// miner processes leaving one run at once lost one MinerLeft this way in CI).
import { Effect, Stream } from "effect";
import { describe, expect, it } from "vitest";
import { makeMemoryEventLog } from "../../../src/actors/eventlog/memory.js";
import { cryptoReady, loadHotkey } from "../../../src/actors/identity/index.js";
import type { DataChannel } from "../../../src/actors/nats/data-channel.js";
import { memoryBlobStore } from "../../../src/actors/swarm/blob-store.js";
import type { FeedItem, FeedListener, RunFeed } from "../../../src/actors/swarm/feed.js";
import { startMinerHost } from "../../../src/actors/swarm/miner-host.js";
import { sotuCorpus } from "../../../src/kernels/data/corpus.js";
import type { SwarmFact } from "../../../src/events/swarm/index.js";
import { initialState } from "../../../src/machines/orchestrator/state.js";

const RUN = "leave-run";

/** A feed the test drives: it holds the host's listener and hands it facts when told. */
const drivenFeed = (): RunFeed & { deliver(fact: SwarmFact): void } => {
  const listeners = new Set<FeedListener>();
  const view = initialState();
  return {
    run: RUN,
    view: () => view,
    lastFact: () => undefined,
    position: () => 0,
    events: () => 0,
    head: () => ({ seq: 0, hash: "", streamSeq: 0, sessionKey: "" }),
    heads: () => new Map(),
    reached: () => Promise.resolve(),
    accepted: () => Promise.resolve(),
    listen: (f) => {
      listeners.add(f);
      return () => listeners.delete(f);
    },
    stop: () => Promise.resolve(),
    done: new Promise<void>(() => undefined),
    deliver: (fact) => {
      const item = { fact, view, envelope: {}, streamSeq: 1 } as unknown as FeedItem;
      for (const l of listeners) l(item);
    },
  };
};

const noData: DataChannel = {
  send: () => Promise.resolve(),
  receive: () => Promise.resolve(() => Promise.resolve()),
  watch: () => Promise.reject(new Error("not used")),
};

describe("a miner host leaving", () => {
  it("stores its MinerLeft although another fact reaches it between the leave and the append", async () => {
    await cryptoReady();
    const log = makeMemoryEventLog();
    const feed = drivenFeed();
    const errors: unknown[] = [];
    const hotkey = loadHotkey("//LeavingMiner");
    const host = await startMinerHost({
      feed, log, data: noData, blobs: memoryBlobStore(), corpus: sotuCorpus(), hotkey,
      kernels: () => { throw new Error("no stage is assigned in this test"); },
      onError: (e) => errors.push(e),
    });
    // Another miner's MinerLeft, delivered synchronously after the host's machine took the leave.
    const other = { type: "MinerLeft", actor: loadHotkey("//OtherMiner").address, payload: { reason: "run completed" } } as unknown as SwarmFact;
    const left = host.leave("run completed");
    feed.deliver(other);
    await left;
    await host.done;
    expect(errors).toEqual([]);
    const stored = await Effect.runPromise(Stream.runCollect(log.read(RUN, { actor: hotkey.address })));
    expect([...stored].map((e) => e.envelope.type)).toContain("MinerLeft");
  });
});
