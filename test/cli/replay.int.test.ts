// `swarmline replay --nats URL --run ID` against a real nats-server: the killed-miner sim log
// imported into NATS replays exactly as its file; a run the server does not hold exits 2.
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EmbeddedNats, startEmbeddedNats } from "../../src/actors/nats/testing.js";
import { main } from "../../src/cli/main.js";
import { captureOutput } from "./capture.js";

const LOG = fileURLToPath(new URL("../fixtures/sim-killed.jsonl", import.meta.url));
let nats: EmbeddedNats;
const swarmline = (...args: string[]) => main(["node", "swarmline", ...args]);

beforeAll(async () => {
  nats = await startEmbeddedNats();
  expect(await swarmline("log", "import", LOG, "--nats", nats.url)).toBe(0);
});
afterAll(async () => {
  await nats?.stop();
});

describe("swarmline replay --nats", () => {
  const io = captureOutput();

  it("replays a run read from NATS exactly as its exported file, at a point and over a diff", async () => {
    for (const point of [["--at", "431"], ["--step", "11"], ["--diff", "172", "447"]]) {
      io.out = "";
      expect(await swarmline("replay", LOG, ...point, "--json")).toBe(0);
      const fromFile = io.out;
      io.out = "";
      expect(await swarmline("replay", "--nats", nats.url, "--run", "sim-1-d81307", ...point, "--json")).toBe(0);
      expect(io.out).toBe(fromFile);
    }
  });

  it("exits 2 for a run the server does not hold, naming the flag to check", async () => {
    expect(await swarmline("replay", "--nats", nats.url, "--run", "no-such-run")).toBe(2);
    expect(io.err).toMatch(/swarmline replay: run no-such-run holds no events on .*check --run/);
  });
});
