// The embedded nats-server launcher: free loopback port, JetStream with dev.conf's limits,
// clean stop, cleanup when the parent exits or is signalled, and a helpful missing-binary error.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { availableParallelism } from "node:os";
import { dirname } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { connectNats } from "../../../src/actors/nats/connection.js";
import { NatsServerFailed, NatsServerMissing, embeddedMaxProcs, freePort, portTaken, startEmbeddedNats } from "../../../src/actors/nats/embedded.js";
import { withNatsServer } from "../../../src/actors/nats/testing.js";

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const waitGone = async (pid: number): Promise<boolean> => {
  for (let i = 0; i < 200 && alive(pid); i++) await new Promise((r) => setTimeout(r, 25));
  return !alive(pid);
};

/** Starts hold-embedded.ts in a child node and reads the server it started. */
const holdInChild = async (arg?: string) => {
  const script = fileURLToPath(new URL("./hold-embedded.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", script, ...(arg ? [arg] : [])], { stdio: ["ignore", "pipe", "inherit"] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once("line", resolve);
    child.once("exit", (c) => reject(new Error(`child exited ${c}`)));
  });
  return { child, server: JSON.parse(line) as { pid: number; dir: string; url: string } };
};

describe("embedded nats-server", () => {
  it("serves JetStream on a free loopback port with dev.conf's 8 MB max_payload, and stops cleanly", async () => {
    const nats = await startEmbeddedNats();
    expect(nats.url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    expect(nats.port).not.toBe(4222);
    const nc = await connectNats(nats.url);
    expect(nc.info?.max_payload).toBe(8 * 1024 * 1024);
    const jsm = await jetstreamManager(nc);
    expect((await jsm.getAccountInfo()).limits).toBeDefined();
    await nc.close();
    expect(existsSync(dirname(nats.storeDir))).toBe(true);
    await nats.stop();
    await nats.stop(); // idempotent
    expect(alive(nats.pid)).toBe(false);
    expect(existsSync(dirname(nats.storeDir))).toBe(false);
  });

  it("runs two servers side by side, each in its own directory", async () => {
    await withNatsServer(async (a) => {
      await withNatsServer(async (b) => {
        expect(a.port).not.toBe(b.port);
        expect(a.storeDir).not.toBe(b.storeDir);
      });
    });
  });

  it("reports a port taken before the server bound it as portTaken (what a start on chosen ports retries), and hands out no port twice", async () => {
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, "127.0.0.1", r));
    const taken = (holder.address() as AddressInfo).port;
    try {
      const err: unknown = await startEmbeddedNats({ port: taken }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NatsServerFailed);
      expect(portTaken(err)).toBe(true);
      expect(portTaken(new NatsServerFailed({ message: "nats-server did not become healthy" }))).toBe(false);
    } finally {
      holder.close();
    }
    const ports = await Promise.all(Array.from({ length: 64 }, () => freePort()));
    expect(new Set(ports).size).toBe(64);
  });

  it("runs the server's Go runtime on half the cores (at least 1) unless told otherwise, so it leaves the swarm's kernels their share", async () => {
    const gomaxprocs = async (s: { monitorPort: number }): Promise<number> =>
      ((await (await fetch(`http://127.0.0.1:${s.monitorPort}/varz`)).json()) as { gomaxprocs: number }).gomaxprocs;
    const saved = process.env.GOMAXPROCS;
    delete process.env.GOMAXPROCS;
    try {
      expect(embeddedMaxProcs()).toBe(Math.max(1, Math.floor(availableParallelism() / 2)));
      const byDefault = await startEmbeddedNats();
      const two = await startEmbeddedNats({ maxProcs: 2 });
      try {
        expect(await gomaxprocs(byDefault)).toBe(embeddedMaxProcs());
        expect(await gomaxprocs(two)).toBe(2);
      } finally {
        await Promise.all([byDefault.stop(), two.stop()]);
      }
      process.env.GOMAXPROCS = "3"; // as for a server started by hand
      expect(embeddedMaxProcs()).toBe(3);
    } finally {
      if (saved === undefined) delete process.env.GOMAXPROCS;
      else process.env.GOMAXPROCS = saved;
    }
  });

  it("says how to install nats-server when it is not on PATH", async () => {
    const path = process.env.PATH;
    process.env.PATH = "/nonexistent";
    try {
      const err: unknown = await startEmbeddedNats().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NatsServerMissing);
      expect((err as Error).message).toContain("apt-get install nats-server");
      expect((err as Error).message).toContain("--nats URL");
    } finally {
      process.env.PATH = path;
    }
  });

  it.each(["SIGINT", "SIGTERM"] as const)("stops the server and removes its directory when the parent gets %s", async (sig) => {
    const { child, server } = await holdInChild();
    expect(alive(server.pid)).toBe(true);
    const exited = new Promise<NodeJS.Signals | null>((r) => child.once("exit", (_c, s) => r(s)));
    child.kill(sig);
    expect(await exited).toBe(sig);
    expect(await waitGone(server.pid)).toBe(true);
    expect(existsSync(dirname(server.dir))).toBe(false);
  });

  it("stops the server when the parent exits without stopping it", async () => {
    const { child, server } = await holdInChild("exit");
    await new Promise((r) => child.once("exit", r));
    expect(await waitGone(server.pid)).toBe(true);
    expect(existsSync(dirname(server.dir))).toBe(false);
  });
});
