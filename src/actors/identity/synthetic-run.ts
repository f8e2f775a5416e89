// A deterministic signed run for fixtures, tests and benchmarks: an orchestrator ticks a clock and
// miners checkpoint in answer, each actor on its own certified, hash-chained, signed chain.
import { certifySessionKey } from "./certificate.js";
import { fixedRng, loadHotkey, type Rng } from "./hotkey.js";
import { nodeCrypto } from "./node-crypto.js";
import { sessionKey } from "./session.js";
import { ActorChain, sessionCertifiedDraft } from "../../events/chain.js";
import type { Draft, Envelope } from "../../events/envelope.js";
import { formatLogHeader, formatLogLine } from "../../events/jsonl.js";

export interface SyntheticRunOptions {
  readonly run: string;
  /** Miners besides the orchestrator (//Alice): //Bob, //Charlie, ... then //Miner6, //Miner7, ... */
  readonly miners: number;
  /** Clock ticks; each tick is one orchestrator event and one checkpoint per miner. */
  readonly ticks: number;
  /** Miner events sealed per append (only the last of each is signed). Default 1. */
  readonly batch?: number;
  /** Nonce randomness for the hotkey certificates; default fixed, so the output is reproducible. */
  readonly rng?: Rng;
}

export interface SyntheticRun {
  /** Every event in stream order. */
  readonly events: Envelope[];
  /** The run as an exported JSONL log (header, then one line per event; no trailing newline). */
  readonly lines: string[];
}

const NAMES = ["Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie"];
const nameOf = (i: number): string => NAMES[i] ?? `Miner${i}`;

/** Builds the run; same options, same bytes. */
export const syntheticRun = (opts: SyntheticRunOptions): SyntheticRun => {
  const { run, miners, ticks } = opts;
  const batch = Math.max(1, opts.batch ?? 1);
  const rng = opts.rng ?? fixedRng();
  const events: Envelope[] = [];
  const append = (es: readonly Envelope[]): void => {
    for (const e of es) events.push(e);
  };
  const at = (): number => 1_700_000_000_000 + events.length * 1000;
  const actors = Array.from({ length: miners + 1 }, (_, i) => {
    const name = nameOf(i).toLowerCase();
    const hotkey = loadHotkey(`//${nameOf(i)}`);
    const session = sessionKey(new Uint8Array(32).fill(i + 1));
    const chain = new ActorChain(nodeCrypto, session, run, hotkey.address);
    let n = 0;
    const id = (): string => `${name}-${(n += 1)}`;
    const cert = sessionCertifiedDraft(certifySessionKey(hotkey, run, session, rng), { id: id(), step: 0, at: at() });
    append(chain.seal([cert]));
    return { chain, id, pending: [] as Draft[] };
  });
  const [orch, ...workers] = actors as [(typeof actors)[number], ...typeof actors];
  const certIds = events.map((e) => e.id);
  const started = orch.chain.seal([
    { id: orch.id(), type: "RunStarted", v: 1, step: 0, at: at(), cause: certIds, payload: { seed: 42, stages: miners, description: `synthetic run ${run}` } },
  ]);
  append(started);
  let last = (started[0] as Envelope).id;
  for (let tick = 1; tick <= ticks; tick++) {
    const [t] = orch.chain.seal([{ id: orch.id(), type: "ClockTicked", v: 1, step: tick, at: at(), cause: [last], payload: { tick } }]);
    append([t as Envelope]);
    last = (t as Envelope).id;
    for (const w of workers) {
      const through = w.chain.head.seq + w.pending.length;
      w.pending.push({
        id: w.id(),
        type: "ActorCheckpointed",
        v: 1,
        step: tick,
        at: at(),
        cause: [last],
        payload: { through, stateHash: nodeCrypto.sha256Hex(`${w.chain.actor}:${tick}`), step: tick },
      });
      if (w.pending.length >= batch || tick === ticks) {
        append(w.chain.seal(w.pending));
        w.pending = [];
      }
    }
  }
  const lines = [formatLogHeader(run), ...events.map((e, i) => formatLogLine(i + 1, e))];
  return { events, lines };
};
