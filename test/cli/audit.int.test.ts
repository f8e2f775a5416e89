// `swarmline audit --nats URL --run ID` against a real nats-server: the golden scored run imported
// into NATS audits exactly as its exported file does; a run the server does not hold exits 2.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EmbeddedNats, startEmbeddedNats } from "../../src/actors/nats/testing.js";
import { main } from "../../src/cli/main.js";
import { GOLDEN_SCORED } from "../fixtures/make-golden.js";
import { captureOutput } from "./capture.js";

let nats: EmbeddedNats;
const swarmline = (...args: string[]) => main(["node", "swarmline", ...args]);

beforeAll(async () => {
  nats = await startEmbeddedNats();
  expect(await swarmline("log", "import", GOLDEN_SCORED, "--nats", nats.url)).toBe(0);
});
afterAll(async () => {
  await nats?.stop();
});

describe("swarmline audit --nats", () => {
  const io = captureOutput();

  it("audits a run read from NATS exactly as its exported file", async () => {
    expect(await swarmline("audit", GOLDEN_SCORED, "--json")).toBe(0);
    const fromFile = JSON.parse(io.out) as Record<string, unknown>;
    io.out = "";
    expect(await swarmline("audit", "--nats", nats.url, "--run", "golden-scored", "--json")).toBe(0);
    const fromNats = JSON.parse(io.out) as Record<string, unknown>;
    expect(fromNats).toMatchObject({ run: "golden-scored", ok: true, verified: true });
    const { file: _f, ...a } = fromFile;
    const { run: _r, ...b } = fromNats;
    expect(b).toEqual(a);
  });

  it("exits 2 for a run the server does not hold, naming the flag to check", async () => {
    expect(await swarmline("audit", "--nats", nats.url, "--run", "no-such-run")).toBe(2);
    expect(io.err).toMatch(/run no-such-run holds no events on .*check --run/);
  });
});
