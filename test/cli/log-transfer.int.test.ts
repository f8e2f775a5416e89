// `swarmline log export` / `log import` against real nats-servers: a run's signed log survives a
// round trip byte for byte, in stream order, and the exported file verifies.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect } from "effect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventLog } from "../../src/actors/eventlog/service.js";
import { connectNats, type NatsConnection } from "../../src/actors/nats/connection.js";
import { layerNats } from "../../src/actors/nats/eventlog.js";
import { type EmbeddedNats, startEmbeddedNats } from "../../src/actors/nats/testing.js";
import { main } from "../../src/cli/main.js";
import { verifyLog } from "../../src/events/verify.js";
import { crypto, registry, signedActor } from "../actors/eventlog/signed.js";

const RUN = "cli-transfer";
let source: EmbeddedNats;
let target: EmbeddedNats;
let nc: NatsConnection;
let dir: string;

const swarmline = (...args: string[]) => main(["node", "swarmline", ...args]);

beforeAll(async () => {
  [source, target] = await Promise.all([startEmbeddedNats(), startEmbeddedNats()]);
  nc = await connectNats(source.url);
  dir = mkdtempSync(join(tmpdir(), "swarmline-log-"));
  const alice = signedActor(RUN, "//Alice", 1);
  const bob = signedActor(RUN, "//Bob", 2);
  await Effect.runPromise(
    Effect.provide(
      Effect.gen(function* () {
        const log = yield* EventLog;
        yield* log.append(RUN, alice.actor, [...alice.open(), ...alice.ticks(300)], { expectedLastSubjectSeq: 0 });
        yield* log.append(RUN, bob.actor, [...bob.open(), ...bob.ticks(5)], { expectedLastSubjectSeq: 0 });
        yield* log.append(RUN, alice.actor, alice.ticks(7), { expectedLastSubjectSeq: 301 });
      }),
      layerNats(nc),
    ),
  );
});

afterAll(async () => {
  await nc?.drain();
  await Promise.all([source?.stop(), target?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("swarmline log export / import", () => {
  it("exports a run in stream order to a file that verifies, and imports it elsewhere byte for byte", async () => {
    const file = join(dir, "run.jsonl");
    expect(await swarmline("log", "export", "--nats", source.url, "--run", RUN, "-o", file)).toBe(0);
    const text = readFileSync(file, "utf8");
    const lines = text.trimEnd().split("\n");
    expect(lines).toHaveLength(1 + 314);
    expect(lines.slice(1).map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual(Array.from({ length: 314 }, (_, i) => i + 1));
    expect(verifyLog(crypto, registry, lines)).toMatchObject({ ok: true, events: 314, actors: 2 });

    expect(await swarmline("log", "import", file, "--nats", target.url)).toBe(0);
    const again = join(dir, "again.jsonl");
    expect(await swarmline("log", "export", "--nats", target.url, "--run", RUN, "-o", again)).toBe(0);
    expect(readFileSync(again, "utf8")).toBe(text);
    // Importing the same file again finds it all there and changes nothing.
    expect(await swarmline("log", "import", file, "--nats", target.url)).toBe(0);
    expect(await swarmline("log", "export", "--nats", target.url, "--run", RUN, "-o", again)).toBe(0);
    expect(readFileSync(again, "utf8")).toBe(text);
  });

  it("fails with a non-zero exit for a file with a removed event, and for a server that is not there", async () => {
    const file = join(dir, "run2.jsonl");
    expect(await swarmline("log", "export", "--nats", source.url, "--run", RUN, "-o", file)).toBe(0);
    const lines = readFileSync(file, "utf8").split("\n");
    const cut = join(dir, "cut.jsonl");
    writeFileSync(cut, [...lines.slice(0, 10), ...lines.slice(11)].join("\n"));
    const fresh = await startEmbeddedNats();
    try {
      expect(await swarmline("log", "import", cut, "--nats", fresh.url)).toBe(1);
    } finally {
      await fresh.stop();
    }
    expect(await swarmline("log", "export", "--nats", "nats://127.0.0.1:1", "--run", RUN)).toBe(1);
    expect(await swarmline("log", "export", "--run", RUN)).not.toBe(0);
  });
});
