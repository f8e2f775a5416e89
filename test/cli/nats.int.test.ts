// `swarmline nats`: runs a server in the foreground, prints its URL, and stops it on Ctrl-C.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { connectNats } from "../../src/actors/nats/connection.js";

const BIN = fileURLToPath(new URL("../../bin/swarmline.mjs", import.meta.url));

describe("swarmline nats", () => {
  it("prints the URL as JSON, serves clients, and on Ctrl-C stops the server, removes its directory and exits 0", async () => {
    const child = spawn(process.execPath, [BIN, "nats", "--json"], { stdio: ["ignore", "pipe", "pipe"] });
    const exit = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).once("line", resolve);
      void exit.then((c) => reject(new Error(`exited ${c}`)));
    });
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
});
