// `swarmline nats`: runs a server in the foreground, prints its URL, and stops it on Ctrl-C.
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import { connectNats, streamReplicas } from "../../src/actors/nats/connection.js";
import { natsBlobStore } from "../../src/actors/nats/blobs.js";
import { natsDataChannel } from "../../src/actors/nats/data-channel.js";
import { ensureRunStreams } from "../../src/actors/nats/eventlog.js";
import { streams } from "../../src/events/subjects.js";

const BIN = fileURLToPath(new URL("../../bin/swarmline.mjs", import.meta.url));

/** The command's exit and its first stdout line; an exit before it fails with what it printed on stderr. */
const firstLine = async (child: ChildProcessByStdio<null, Readable, Readable>): Promise<{ exit: Promise<number | null>; line: string }> => {
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
  const exit = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once("line", resolve);
    void exit.then((c) => reject(new Error(`exited ${c}: ${stderr}`)));
  });
  return { exit, line };
};

describe("swarmline nats", () => {
  it("prints the URL as JSON, serves clients, and on Ctrl-C stops the server, removes its directory and exits 0", async () => {
    const child = spawn(process.execPath, [BIN, "nats", "--json"], { stdio: ["ignore", "pipe", "pipe"] });
    const { exit, line } = await firstLine(child);
    const info = JSON.parse(line) as { url: string; port: number; storeDir: string; pid: number };
    expect(info.url).toBe(`nats://127.0.0.1:${info.port}`);
    const nc = await connectNats(info.url);
    await nc.flush();
    await nc.close();
    child.kill("SIGINT");
    expect(await exit).toBe(0);
    expect(existsSync(dirname(info.storeDir))).toBe(false);
    expect(() => process.kill(info.pid, 0)).toThrow();
  });

  it("runs a 3-node cluster with --cluster 3: prints the nodes' URLs, creates a run's streams (facts, dead letters, data, blobs) with 3 replicas, and on Ctrl-C stops every node", async () => {
    const child = spawn(process.execPath, [BIN, "nats", "--cluster", "3", "--json"], { stdio: ["ignore", "pipe", "pipe"] });
    const { exit, line } = await firstLine(child);
    const info = JSON.parse(line) as { url: string; nodes: { name: string; url: string; storeDir: string; pid: number }[] };
    expect(info.nodes.map((n) => n.name)).toEqual(["swarmline-n1", "swarmline-n2", "swarmline-n3"]);
    expect(info.url).toBe(info.nodes.map((n) => n.url).join(","));
    const nc = await connectNats(info.url);
    try {
      expect(streamReplicas(nc)).toBe(3);
      const jsm = await jetstreamManager(nc);
      await ensureRunStreams(jsm, "r1", { replicas: streamReplicas(nc) }); // as the event log and the feed do
      await natsDataChannel(nc, "r1");
      await natsBlobStore(nc, "r1", { writer: "w" });
      for (const stream of [streams.facts("r1"), streams.deadLetter("r1"), streams.data("r1"), streams.blobs("r1")])
        expect((await jsm.streams.info(stream)).config.num_replicas, stream).toBe(3);
    } finally {
      await nc.close();
    }
    child.kill("SIGINT");
    expect(await exit).toBe(0);
    for (const n of info.nodes) {
      expect(existsSync(dirname(n.storeDir))).toBe(false);
      expect(() => process.kill(n.pid, 0)).toThrow();
    }
  });
});
