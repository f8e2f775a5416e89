// The orchestrator's anchored heads (src/events/head.ts): at every scoring window and at the run's
// completion, every actor's chain head as the orchestrator's feed has read it, signed by the
// orchestrator's hotkey and appended to a head file outside the log, so `log verify --head FILE`
// catches a log whose end was cut.
import { appendFileSync } from "node:fs";
import { type LogAnchor, makeAnchor } from "../../events/head.js";
import type { Hotkey } from "../identity/index.js";
import { nodeCrypto } from "../identity/node-crypto.js";
import type { RunFeed } from "./feed.js";

export interface HeadAnchorOptions {
  readonly feed: RunFeed;
  readonly hotkey: Hotkey;
  readonly file: string;
  /**
   * Microbatches between anchors when no validator has set a scoring window (a validator's
   * ScoringStarted `window` takes over: anchors then fall where its windows close).
   */
  readonly every: number;
  /**
   * Called with each anchor once it is in the file: where a launcher commits it on chain. A throw,
   * or a rejected promise, goes to `onError` and anchoring goes on.
   */
  readonly onAnchor?: (a: LogAnchor) => void | Promise<void>;
  readonly onError?: (e: unknown) => void;
}

export interface HeadAnchors {
  /**
   * Anchors the heads as the feed has them now (reason "completed"), unless nothing changed since
   * the last anchor: for a launcher that lets the last facts after RunCompleted land (the
   * validator's last window, miners leaving) and then anchors the whole log.
   */
  final(): void;
  stop(): void;
}

/** Starts anchoring. Only the run's own orchestrator anchors (its hotkey signs). */
export const startHeadAnchors = (o: HeadAnchorOptions): HeadAnchors => {
  let window: number | undefined;
  let last = -1;
  let lastDigest = "";
  const anchor = (reason: "window" | "completed", completed: number): void => {
    if (reason === "window" && completed === last) return;
    last = completed;
    const heads = [...o.feed.heads()].map(([actor, h]) => ({ actor, seq: h.seq, hash: h.hash }));
    const a = makeAnchor(nodeCrypto, { run: o.feed.run, orchestrator: o.hotkey.address, reason, completed, heads }, (m) => o.hotkey.sign(m));
    if (a.digest === lastDigest) return;
    lastDigest = a.digest;
    try {
      appendFileSync(o.file, `${JSON.stringify(a)}\n`);
    } catch (e) {
      o.onError?.(e);
      return;
    }
    try {
      // An async onAnchor (a chain commit) runs on; its rejection must not go unhandled.
      Promise.resolve(o.onAnchor?.(a)).catch((e: unknown) => o.onError?.(e));
    } catch (e) {
      o.onError?.(e);
    }
  };
  const stop = o.feed.listen(({ fact, view }) => {
    if (view.config?.orchestrator !== o.hotkey.address) return;
    if (fact.type === "ScoringStarted" && window === undefined && fact.payload.window >= 1) window = fact.payload.window;
    else if (fact.type === "MicrobatchCompleted" && fact.actor === o.hotkey.address && view.counters.completed % (window ?? o.every) === 0) anchor("window", view.counters.completed);
    else if (fact.type === "RunCompleted" && fact.actor === o.hotkey.address) anchor("completed", view.counters.completed);
  });
  return {
    final: () => {
      if (o.feed.view().config?.orchestrator === o.hotkey.address) anchor("completed", o.feed.view().counters.completed);
    },
    stop,
  };
};
