// Probe: one garbage message published on a miner's fact subject made `swarmline log export` exit
// 1 with only the header written. Now the export keeps every valid event, names the refused
// message in place, and the file verifies, imports and audits; on real nats-servers.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { Effect } from "effect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventLog } from "../../src/actors/eventlog/service.js";
import { connectNats, type NatsConnection } from "../../src/actors/nats/connection.js";
import { layerNats } from "../../src/actors/nats/eventlog.js";
import { type EmbeddedNats, startEmbeddedNats } from "../../src/actors/nats/testing.js";
import { main } from "../../src/cli/main.js";
import { subjects } from "../../src/events/subjects.js";
import { verifyLog } from "../../src/events/verify.js";
import { crypto, registry, signedActor } from "../actors/eventlog/signed.js";
import { captureOutput } from "./capture.js";

const RUN = "cli-refused";
let source: EmbeddedNats;
let target: EmbeddedNats;
let nc: NatsConnection;
let dir: string;
/** The garbage's stream sequence. */
let garbageAt = 0;

const swarmline = (...args: string[]) => main(["node", "swarmline", ...args]);

beforeAll(async () => {
  [source, target] = await Promise.all([startEmbeddedNats(), startEmbeddedNats()]);
  nc = await connectNats(source.url);
  dir = mkdtempSync(join(tmpdir(), "swarmline-refused-"));
  const alice = signedActor(RUN, "//Alice", 1);
  const bob = signedActor(RUN, "//Bob", 2);
  const append = (program: Effect.Effect<unknown, unknown, EventLog>) => Effect.runPromise(Effect.provide(program, layerNats(nc)));
  await append(
    Effect.gen(function* () {
      const log = yield* EventLog;
      yield* log.append(RUN, alice.actor, [...alice.open(), ...alice.ticks(4)], { expectedLastSubjectSeq: 0 });
      yield* log.append(RUN, bob.actor, [...bob.open(), ...bob.ticks(2)], { expectedLastSubjectSeq: 0 });
    }),
  );
  garbageAt = (await jetstream(nc).publish(subjects.facts(RUN, alice.actor), "garbage, not JSON")).seq;
  await append(Effect.flatMap(EventLog, (log) => log.append(RUN, alice.actor, alice.ticks(3), { expectedLastSubjectSeq: garbageAt })));
});

afterAll(async () => {
  await nc?.drain();
  await Promise.all([source?.stop(), target?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const io = captureOutput();

describe("swarmline log export of a run with a garbage message on a miner's subject", () => {
  it("keeps every valid event, writes the refused message as a line at its seq, reports it and exits 0", async () => {
    const file = join(dir, "run.jsonl");
    expect(await swarmline("log", "export", "--nats", source.url, "--run", RUN, "-o", file, "--json")).toBe(0);
    expect(JSON.parse(io.out)).toEqual({ run: RUN, events: 11, refused: 1, reasons: { MalformedJson: 1 }, refilled: 0, deleted: [], file });
    expect(io.err).toMatch(/refused 1 stored message\(s\) that are not valid events \(1 MalformedJson\)/);
    const lines = readFileSync(file, "utf8").trimEnd().split("\n");
    expect(lines).toHaveLength(1 + 12);
    const refused = JSON.parse(lines[garbageAt] as string) as { seq: number; refused: { subject: string; reason: string } };
    expect(refused).toMatchObject({ seq: garbageAt, refused: { reason: "MalformedJson" } });
    expect(refused.refused.subject).toContain(RUN);
    expect(verifyLog(crypto, registry, lines)).toEqual({ ok: true, events: 11, actors: 2, refused: 1 });
  });

  it("makes a file that log verify and audit accept, and that imports elsewhere without the refused message", async () => {
    const file = join(dir, "run2.jsonl");
    expect(await swarmline("log", "export", "--nats", source.url, "--run", RUN, "-o", file)).toBe(0);
    expect(await swarmline("log", "verify", file)).toBe(0);
    expect(io.out).toMatch(/^valid: .*11 events from 2 actors/);
    expect(await swarmline("log", "import", file, "--nats", target.url)).toBe(0);
    expect(io.out).toMatch(/imported 11 events .*1 refused messages left out/);
    const again = join(dir, "again.jsonl");
    expect(await swarmline("log", "export", "--nats", target.url, "--run", RUN, "-o", again)).toBe(0);
    const lines = readFileSync(again, "utf8").trimEnd().split("\n");
    expect(verifyLog(crypto, registry, lines)).toEqual({ ok: true, events: 11, actors: 2 });
  });

  it("records the stream's end in the header, so log verify and import refuse a truncated copy", async () => {
    const file = join(dir, "run3.jsonl");
    expect(await swarmline("log", "export", "--nats", source.url, "--run", RUN, "-o", file)).toBe(0);
    const lines = readFileSync(file, "utf8").trimEnd().split("\n");
    expect(JSON.parse(lines[0] as string)).toEqual({ swarmline: "log", format: 2, run: RUN, last: 12 });
    const cut = join(dir, "cut.jsonl");
    writeFileSync(cut, `${lines.slice(0, -1).join("\n")}\n`);
    io.out = "";
    expect(await swarmline("log", "verify", cut)).toBe(1);
    expect(io.out).toMatch(/^INVALID: .*Truncated: the header records stream seqs 1\.\.12, the file ends at seq 11/);
    const fresh = await startEmbeddedNats();
    try {
      expect(await swarmline("log", "import", cut, "--nats", fresh.url)).toBe(1);
      expect(io.err).toMatch(/the header records 12 stream messages, the file holds 11/);
    } finally {
      await fresh.stop();
    }
  });

  it("exits 1 for a run that holds nothing, naming the run", async () => {
    expect(await swarmline("log", "export", "--nats", source.url, "--run", "no-such-run", "-o", join(dir, "none.jsonl"))).toBe(1);
    expect(io.err).toMatch(/run no-such-run holds no events/);
  });
});
