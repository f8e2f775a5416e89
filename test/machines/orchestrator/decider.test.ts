import { describe, it } from "vitest";
import { config, given, LogBuilder, ORCH } from "./gwt.js";

const started = (over = {}, stages = 3): LogBuilder => {
  const log = new LogBuilder();
  log.run({ type: "StartRun", config: config(over, stages) });
  return log;
};

describe("orchestrator decider", () => {
  it("rejects a second start, a tick before start, an invalid config and kicking an unknown miner", () => {
    given(started()).when({ type: "StartRun", config: config() }).rejects("AlreadyStarted");
    given(new LogBuilder()).when({ type: "Tick" }).rejects("NotStarted");
    given(new LogBuilder()).when({ type: "StartRun", config: config({ maxInFlight: 0 }) }).rejects("InvalidConfig");
    given(started()).when({ type: "KickMiner", miner: "nobody" }).rejects("UnknownMiner");
  });

  it("assigns a joining miner to the stage with the fewest miners, ties to the weaker stage", () => {
    const log = started();
    log.join("a", 10); // stage 0
    log.join("b", 1); // stage 1
    log.join("c", 5); // stage 2
    log.add("d", "MinerJoined", { throughput: 3 });
    // one miner everywhere: the weakest total throughput is stage 1 (b = 1)
    given(log).when({ type: "Advance" }).then([
      { type: "StageAssigned", payload: { miner: "d", stage: 1, weights: "w1", epoch: 0 } },
      { type: "MicrobatchLeased", payload: { microbatch: 0 } }, // a, b, c loaded: the pipeline is ready
    ]);
  });

  it("leases the first microbatch once every stage has an active miner", () => {
    const log = started();
    log.join("a");
    log.join("b");
    given(log).when({ type: "Advance" }).then([]);
    log.join("c");
    given(log).when({ type: "Advance" }).then([{ type: "MicrobatchLeased", payload: { microbatch: 0, attempt: 0, miner: "a", expires: 5 } }]);
  });

  it("completes a microbatch when the backward pass reaches stage 0, and ignores a re-sent completion", () => {
    const log = started({}, 1);
    log.join("a");
    const [lease] = log.run({ type: "Advance" });
    log.add("a", "LossComputed", { lease: lease!.id, loss: 2.5, tokens: 8, weights: null });
    log.add("a", "BackwardCompleted", { lease: lease!.id, stage: 0 });
    log.add("a", "BackwardCompleted", { lease: lease!.id, stage: 0 }); // a re-sent fact under a new id
    given(log).when({ type: "Advance" }).then([
      { type: "MicrobatchCompleted", payload: { lease: lease!.id, microbatch: 0, pathway: ["a"], loss: 2.5, tokens: 8 } },
      { type: "MicrobatchLeased", payload: { microbatch: 1, attempt: 0 } },
    ]);
  });

  it("times out a miner silent for more than N ticks and reissues the lease it held", () => {
    const log = started({}, 1);
    log.join("a");
    log.join("b");
    log.run({ type: "Advance" });
    const lease = log.facts.find((f) => f.type === "MicrobatchLeased");
    const holder = lease?.type === "MicrobatchLeased" ? lease.payload.miner : "";
    const other = holder === "a" ? "b" : "a";
    for (let t = 0; t < 4; t++) {
      log.run({ type: "Tick" });
      log.add(other, "HeartbeatSent", { queue: 0, throughput: 1 });
    }
    given(log).when({ type: "Advance" }).then([
      { type: "MinerTimedOut", payload: { miner: holder } },
      { type: "MicrobatchReissued", payload: { lease: lease!.id, microbatch: 0, reason: "miner-lost", miner: holder } },
      { type: "MicrobatchLeased", payload: { microbatch: 0, attempt: 1, miner: other } },
    ]);
  });

  it("reissues an expired lease with the same batch", () => {
    const log = started({ heartbeatTimeoutTicks: 100 }, 1);
    log.join("a");
    const [lease] = log.run({ type: "Advance" });
    const batch = lease?.type === "MicrobatchLeased" ? lease.payload.batch : -1;
    for (let t = 0; t < 5; t++) log.run({ type: "Tick" });
    given(log).when({ type: "Advance" }).then([
      { type: "MicrobatchReissued", payload: { reason: "expired" } },
      { type: "MicrobatchLeased", payload: { microbatch: 0, batch, attempt: 1 } },
    ]);
  });

  describe("merges", () => {
    // One stage, merge as soon as two miners are active (mergeEvery 0, bMin 0).
    const merging = () => {
      const log = started({ mergeEvery: 0, bMin: 0, maxInFlight: 1, heartbeatTimeoutTicks: 100 }, 1);
      log.join("a");
      log.join("b");
      log.run({ type: "Advance" });
      const start = log.facts.find((f) => f.type === "MergeStarted")!;
      return { log, merge: start.id };
    };

    it("starts a merge with a seeded two-reducer plan and seals it once every participant sent", () => {
      const { log, merge } = merging();
      log.add("a", "PartitionsSent", { merge, refs: ["a0", "a1"], bytes: 80 });
      given(log).when({ type: "Advance" }).then([]);
      log.add("b", "PartitionsSent", { merge, refs: ["b0", "b1"], bytes: 80 });
      given(log).when({ type: "Advance" }).then([{ type: "MergeSealed", payload: { merge, contributors: [{ miner: "a", samples: 0 }, { miner: "b", samples: 0 }] } }]);
    });

    it("accepts equal hashes, and past the deadline completes with the rest skipped", () => {
      const { log, merge } = merging();
      log.add("a", "PartitionsSent", { merge, refs: ["a0", "a1"], bytes: 80 });
      log.add("b", "PartitionsSent", { merge, refs: ["b0", "b1"], bytes: 80 });
      log.run({ type: "Advance" });
      log.add("a", "PartitionReduced", { merge, partition: 0, hash: "h0" });
      log.add("b", "PartitionReduced", { merge, partition: 0, hash: "h0" });
      log.add("a", "PartitionReduced", { merge, partition: 1, hash: "h1" }); // b never answers for partition 1
      given(log).when({ type: "Advance" }).then([{ type: "PartitionAccepted", payload: { merge, partition: 0, hash: "h0", reducers: ["a", "b"] } }]);
      log.run({ type: "Advance" });
      for (let t = 0; t < 4; t++) log.run({ type: "Tick" });
      given(log).when({ type: "Advance" }).then([
        { type: "MergeCompleted", payload: { merge, stage: 0, epoch: 0, results: ["h0", null], accepted: 1, skipped: 1 } },
        // mergeEvery 0: the next epoch's merge starts at once (and stage 0 merging holds leases back)
        { type: "MergeStarted", payload: { stage: 0, epoch: 1 } },
      ]);
    });

    it("opens a dispute on unequal hashes, settles it with a third reducer, and kicks the wrong one", () => {
      const log = started({ mergeEvery: 0, bMin: 0, heartbeatTimeoutTicks: 100 }, 1);
      log.join("a");
      log.join("b");
      log.run({ type: "Advance" });
      log.join("c"); // joins after the merge started: not a participant, a candidate third reducer
      log.run({ type: "Advance" });
      const merge = log.facts.find((f) => f.type === "MergeStarted")!.id;
      log.add("a", "PartitionsSent", { merge, refs: ["a0", "a1"], bytes: 80 });
      log.add("b", "PartitionsSent", { merge, refs: ["b0", "b1"], bytes: 80 });
      log.run({ type: "Advance" });
      log.add("a", "PartitionReduced", { merge, partition: 0, hash: "good" });
      log.add("b", "PartitionReduced", { merge, partition: 0, hash: "bad" });
      given(log).when({ type: "Advance" }).then([
        { type: "PartitionDisputed", payload: { merge, partition: 0, claims: [{ reducer: "a", hash: "good" }, { reducer: "b", hash: "bad" }], reducer: "c" } },
      ]);
      log.run({ type: "Advance" });
      log.add("c", "PartitionReduced", { merge, partition: 0, hash: "good" });
      given(log).when({ type: "Advance" }).then([
        { type: "PartitionAccepted", payload: { partition: 0, hash: "good", reducers: ["a", "c"] } },
        { type: "DisputeSettled", payload: { partition: 0, hash: "good", flagged: ["b"] } },
        { type: "MinerKicked", payload: { miner: "b", reason: "wrong-reduction" } },
        // b also reduced partition 1: the kicked reducer is replaced there
        { type: "PartitionReassigned", payload: { partition: 1, reducer: "c", replaces: "b" } },
      ]);
    });
  });

  it("ignores a decision-type fact forged by someone other than the orchestrator", () => {
    const log = started({}, 1);
    log.join("a");
    log.run({ type: "Advance" });
    log.add("a", "MicrobatchCompleted", { lease: `r:o3`, microbatch: 0, batch: 0, pathway: ["a"], loss: 0, tokens: 0 });
    given(log).when({ type: "Advance" }).then([]);
    void ORCH;
  });
});
