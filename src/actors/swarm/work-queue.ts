// A miner's compute queue: one job at a time (its weights and optimizer are not shared between
// jobs), lowest priority number first, FIFO within a priority. Backward passes and optimizer steps
// go before new forwards, so leases finish and activations are freed (1F1B-like).

type Job = { readonly prio: number; readonly order: number; readonly run: () => Promise<void> };

export class WorkQueue {
  private jobs: Job[] = [];
  private running = false;
  private order = 0;
  private stopped = false;

  constructor(private readonly onError: (e: unknown) => void) {}

  /** Queues `run` at priority `prio` (0 first). */
  push(prio: number, run: () => Promise<void>): void {
    if (this.stopped) return;
    this.jobs.push({ prio, order: this.order++, run });
    if (!this.running) void this.pump();
  }

  get length(): number {
    return this.jobs.length + (this.running ? 1 : 0);
  }

  /** Drops queued jobs; the running one finishes. */
  stop(): void {
    this.stopped = true;
    this.jobs = [];
  }

  private async pump(): Promise<void> {
    this.running = true;
    while (this.jobs.length > 0 && !this.stopped) {
      let best = 0;
      for (let i = 1; i < this.jobs.length; i++) {
        const a = this.jobs[i] as Job;
        const b = this.jobs[best] as Job;
        if (a.prio < b.prio || (a.prio === b.prio && a.order < b.order)) best = i;
      }
      const [job] = this.jobs.splice(best, 1);
      try {
        await (job as Job).run();
      } catch (e) {
        this.onError(e);
      }
    }
    this.running = false;
  }
}
