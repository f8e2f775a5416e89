// Given-events / when-command / then-events for the orchestrator decider, and a log builder that
// stamps actor-local seqs the way the envelope chain does.
import { Result } from "effect";
import { expect } from "vitest";
import type { SwarmEventType, SwarmFact, SwarmPayloads, SwarmRunConfig } from "../../../src/events/swarm/index.js";
import { asFact, decide, fold, initialState, type OrchestratorCommand } from "../../../src/machines/orchestrator/index.js";

export const ORCH = "orchestrator";

export const config = (over: Partial<SwarmRunConfig["schedule"]> = {}, stages = 3): SwarmRunConfig => ({
  run: "r", orchestrator: ORCH, seed: "s", model: null,
  stages: Array.from({ length: stages }, (_, i) => ({ params: 10, weights: `w${i}` })),
  schedule: {
    totalMicrobatches: 10, datasetBatches: 5, tokensPerMicrobatch: 8, maxInFlight: 1, leaseTicks: 5, heartbeatTimeoutTicks: 3,
    heartbeatEveryTicks: 1, mergeEvery: 100, bMin: 1, partitions: 2, mergeGatherTicks: 2, mergeDeadlineTicks: 4, microbatchesPerStep: 1, overlapMerges: false, routing: "proportional", mergeInterval: "fixed",
    ...over,
  },
});

export class LogBuilder {
  readonly facts: SwarmFact[] = [];
  private readonly seqs = new Map<string, number>();
  private n = 0;

  /** A fact by `actor` (a miner, usually). */
  add<T extends SwarmEventType>(actor: string, type: T, payload: SwarmPayloads[T]): SwarmFact {
    const seq = (this.seqs.get(actor) ?? 0) + 1;
    this.seqs.set(actor, seq);
    const f = { id: `${actor}-${++this.n}`, type, actor, seq, step: 0, cause: [], payload } as unknown as SwarmFact;
    this.facts.push(f);
    return f;
  }

  /** Decides `command` on the fold so far and appends the decisions as the orchestrator's facts. */
  run(command: OrchestratorCommand): SwarmFact[] {
    const r = decide(command, fold(this.facts, initialState()));
    if (Result.isFailure(r)) throw new Error(r.failure._tag);
    return r.success.map((d) => {
      const seq = (this.seqs.get(ORCH) ?? 0) + 1;
      this.seqs.set(ORCH, seq);
      const f = asFact(d, ORCH, seq);
      this.facts.push(f);
      return f;
    });
  }

  /** Miner joins, is assigned (Advance), loads the assigned weights. Returns its stage. */
  join(miner: string, throughput = 1): number {
    this.add(miner, "MinerJoined", { throughput });
    const a = this.run({ type: "Advance" }).find((f) => f.type === "StageAssigned" && f.payload.miner === miner);
    const stage = a?.type === "StageAssigned" ? a.payload.stage : -1;
    this.add(miner, "WeightsLoaded", { stage, epoch: 0, ref: `w${stage}` });
    return stage;
  }
}

type Expected = { type: SwarmEventType; payload?: Record<string, unknown> };

export const given = (log: LogBuilder) => ({
  when: (command: OrchestratorCommand) => {
    const r = decide(command, fold(log.facts, initialState()));
    return {
      then: (expected: Expected[]) => {
        expect(Result.isSuccess(r)).toBe(true);
        const got = Result.isSuccess(r) ? r.success.map((d) => ({ type: d.type, payload: d.payload })) : [];
        expect(got).toMatchObject(expected);
        expect(got.length).toBe(expected.length);
      },
      rejects: (tag: string) => expect(Result.isFailure(r) ? r.failure._tag : "accepted").toBe(tag),
    };
  },
});
