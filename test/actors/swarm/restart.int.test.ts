// An orchestrator host that stops mid-run and a fresh one (new session key) that refolds the log
// carry the run to completion: nothing lost or doubled, and every decision of both re-derives.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmbeddedNats, type EmbeddedNats } from "../../../src/actors/nats/testing.js";
import { runSwarmSim } from "../../../src/actors/swarm/sim-run.js";
import { nodeCrypto } from "../../../src/actors/identity/node-crypto.js";
import { parseLogLines } from "../../../src/events/jsonl.js";
import { decodeFacts } from "../../../src/events/facts.js";
import { verifyLog } from "../../../src/events/verify.js";
import { vocabularyRegistry } from "../../../src/events/vocabulary.js";
import { auditDecisions, checkInvariants } from "../../../src/machines/orchestrator/index.js";

describe("orchestrator restart", () => {
  let nats: EmbeddedNats;
  beforeAll(async () => {
    nats = await startEmbeddedNats();
  });
  afterAll(() => nats.stop());

  it("resumes the run from the log with a new session and the same decisions", async () => {
    const lines: string[] = [];
    const r = await runSwarmSim({
      nats: nats.url, seed: 5, miners: 4, microbatches: 24, restartOrchestratorAt: 8, mergeEvery: 6, evalEvery: 1000, evalBatches: 1,
      gpt: { stages: 2, nLayer: 2, dModel: 32, nHead: 2, seq: 16, batch: 4, bottleneck: 4 }, quant: "int8", logLines: (ls) => { lines.push(...ls); },
    });
    expect(r.microbatches).toMatchObject({ completed: 24, lost: 0 });
    expect(r.violations).toEqual([]);
    const parsed = parseLogLines(lines);
    if (parsed._tag === "Failure") throw new Error(parsed.failure.detail);
    const events = parsed.success.entries.map((e) => e.event);
    const orchestrator = events.find((e) => e.type === "SwarmRunStarted")?.actor;
    // Two sessions of the orchestrator, each certified on the same chain.
    expect(events.filter((e) => e.type === "SessionKeyCertified" && e.actor === orchestrator)).toHaveLength(2);
    expect(verifyLog(nodeCrypto, vocabularyRegistry(), lines).ok).toBe(true);
    const facts = decodeFacts(events);
    expect(auditDecisions(facts)).toEqual([]);
    expect(checkInvariants(facts)).toMatchObject({ completed: 24, violations: [] });
  });
});
