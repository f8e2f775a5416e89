// Run statistics from the facts alone (what any reader of the log can compute): per-microbatch
// losses, completions, and the compression ratio of the boundary traffic.
import type { SwarmFact } from "../../events/swarm/index.js";
import type { Counters } from "../../machines/orchestrator/index.js";
import { tokens } from "../../kernels/model/config.js";
import type { SwarmModel } from "./model.js";

export class RunStats {
  private readonly all: SwarmFact[] = [];
  private readonly byMicrobatch = new Map<number, number>();
  private readonly completed = new Set<number>();
  private wireBytes = 0;
  private messages = 0;
  private last: number | undefined;

  constructor(private readonly model: SwarmModel) {}

  observe(f: SwarmFact): void {
    this.all.push(f);
    if (f.type === "ActivationsForwarded" || f.type === "GradientsReturned") {
      this.wireBytes += f.payload.bytes;
      this.messages += 1;
    } else if (f.type === "MicrobatchCompleted" && f.actor === this.orchestrator()) {
      this.byMicrobatch.set(f.payload.microbatch, f.payload.loss);
      this.completed.add(f.payload.microbatch);
      this.last = f.payload.loss;
    }
  }

  private orchestrator(): string | undefined {
    const first = this.all[0];
    return first?.type === "SwarmRunStarted" ? first.actor : undefined;
  }

  facts(): readonly SwarmFact[] {
    return this.all;
  }

  lastLoss(): number | undefined {
    return this.last;
  }

  distinctCompleted(): number {
    return this.completed.size;
  }

  /** Training loss of each microbatch, by index (the loss trajectory). */
  losses(): number[] {
    return [...this.byMicrobatch.entries()].sort((a, b) => a[0] - b[0]).map(([, l]) => l);
  }

  /** fp32 bytes of an uncompressed d_model boundary tensor ÷ mean wire bytes per message. */
  compressionRatio(): number {
    if (this.messages === 0) return 1;
    return (tokens(this.model.gpt) * this.model.gpt.dModel * 4) / (this.wireBytes / this.messages);
  }
}

/** The figures every sim reports from its run's counters and stats (real-time and deterministic alike). */
export const runFigures = (o: {
  readonly run: string;
  readonly counters: Counters;
  readonly secs: number;
  readonly curve: [number, number][];
  readonly stats: RunStats;
  readonly microbatches: number;
  readonly events: number;
}) => {
  const c = o.counters;
  return {
    runId: o.run,
    steps: c.completed,
    tokens: c.tokens,
    tokensPerSecond: o.secs > 0 ? c.tokens / o.secs : 0,
    valBpb: o.curve[o.curve.length - 1]?.[1] ?? Number.NaN,
    lossCurve: o.curve,
    compressionRatio: o.stats.compressionRatio(),
    merges: { done: c.mergesDone, skipped: c.partitionsSkipped, disputes: c.disputes },
    microbatches: { issued: c.issued, completed: c.completed, reissued: c.reissued, lost: o.microbatches - o.stats.distinctCompleted() },
    events: o.events,
    losses: o.stats.losses(),
  };
};
