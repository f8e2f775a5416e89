// A producer's journal on disk: batches are written at once and flushed (fdatasync) off the event
// loop; `synced()` waits for the flush, and a reopened journal reads back every line.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Envelope } from "../../../src/events/envelope.js";
import { FactJournal, journalFile } from "../../../src/actors/swarm/journal.js";

const dir = mkdtempSync(join(tmpdir(), "swl-journal-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const envelope = (actor: string, seq: number): Envelope =>
  ({ id: `${actor}-${seq}`, type: "HeartbeatSent", v: 1, run: "r", actor, seq, prev: "0".repeat(64), cause: [], step: seq, at: 0, payload: { queue: 0, throughput: 1 }, hash: "0".repeat(64), sig: "0".repeat(128) }) as unknown as Envelope;

describe("FactJournal", () => {
  it("writes each batch at once, has it on the disk once synced, and reads every line back after a reopen", async () => {
    const file = journalFile(dir, "r", "alice");
    const j = FactJournal.open("alice", file);
    for (let b = 0; b < 20; b++) j.record([envelope("alice", 2 * b + 1), envelope("alice", 2 * b + 2)], [10 * b + 1, 10 * b + 2]);
    // Written to the OS at once: the file holds all 40 lines before any flush is awaited.
    expect(readFileSync(file, "utf8").trim().split("\n")).toHaveLength(40);
    expect(j.lines.written).toBe(40);
    await j.synced();
    expect(j.lines).toEqual({ written: 40, durable: 40 });
    await j.close();
    j.record([envelope("alice", 41)], [201]); // a record after close opens the file again
    await j.close();
    const again = FactJournal.open("alice", file);
    expect(again.size).toBe(41);
    expect(again.unreadable).toBe(0);
    expect(again.lookup([1, 192, 201]).map((e) => e.id)).toEqual(["alice-1", "alice-40", "alice-41"]);
  });
});
