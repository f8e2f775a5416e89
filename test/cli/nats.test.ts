// `swarmline nats` flags: who may join a secured server is named one way or the other, and a wrong
// combination is a usage error (exit 2) that says what to pass, before anything is started.
import { describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { planNats } from "../../src/cli/nats.js";
import { loadHotkey } from "../../src/actors/identity/index.js";
import { captureOutput } from "./capture.js";

const owner = loadHotkey("//Alice").address;
const CHAIN = ["--secure", "--chain", "ws://127.0.0.1:9944", "--netuid", "3", "--orchestrator", owner];

describe("swarmline nats usage", () => {
  const io = captureOutput();
  const usage = async (...argv: string[]): Promise<string> => {
    io.err = "";
    expect(await main(["node", "swarmline", "nats", ...argv])).toBe(2);
    return io.err;
  };

  it("needs --allow or --chain with --secure, and not both", async () => {
    expect(await usage("--secure")).toMatch(/^swarmline nats: --secure needs who may join: --allow FILE .* or --chain URL --netuid N --orchestrator ADDRESS/);
    expect(await usage(...CHAIN, "--allow", "hotkeys.txt")).toMatch(/--allow and --chain both say who may join: pass one/);
  });

  it("runs a cluster of 3 to 7 open nodes on free ports", async () => {
    expect(await usage("--cluster", "2")).toContain("swarmline nats: --cluster must be a number of nodes from 3 to 7 (R3 streams need 3), got \"2\"");
    expect(await usage("--cluster", "three")).toContain("--cluster must be a number of nodes from 3 to 7");
    expect(await usage("--cluster", "3", "--port", "4300")).toContain("--port is for a single server: drop it with --cluster");
    expect(await usage("--cluster", "3", "--secure")).toContain("--secure is for a single server: drop it with --cluster");
  });

  it("refuses the gate's flags on an open server", async () => {
    expect(await usage("--chain", "ws://127.0.0.1:9944")).toContain("swarmline nats: --chain is for --secure servers");
    expect(await usage("--allow", "hotkeys.txt")).toContain("--allow is for --secure servers");
    expect(await usage("--orchestrator", owner)).toContain("--orchestrator is for --secure servers");
  });

  it("keeps the metagraph's flags to --chain servers", async () => {
    expect(await usage("--secure", "--allow", "hotkeys.txt", "--orchestrator", owner)).toContain("--orchestrator is for --chain servers (an allow-list names its orchestrator on a line \"ADDRESS orchestrator\")");
    expect(await usage("--secure", "--allow", "hotkeys.txt", "--netuid", "3")).toContain("--netuid is for --chain servers");
  });

  it("needs a ws URL, a netuid and an orchestrator's address with --chain", async () => {
    expect(await usage("--secure", "--chain", "http://node:9944", "--netuid", "3", "--orchestrator", owner)).toContain('--chain must be a ws:// or wss:// URL of a subtensor node, got "http://node:9944"');
    expect(await usage("--secure", "--chain", "ws://127.0.0.1:9944", "--orchestrator", owner)).toContain("--chain needs --netuid N");
    expect(await usage("--secure", "--chain", "ws://127.0.0.1:9944", "--netuid", "x", "--orchestrator", owner)).toContain('--netuid must be an integer in 0..65535, got "x"');
    expect(await usage("--secure", "--chain", "ws://127.0.0.1:9944", "--netuid", "3")).toContain("--chain needs --orchestrator ADDRESS");
    expect(await usage(...CHAIN, "--orchestrator", "//Alice")).toContain('--orchestrator must be a hotkey\'s ss58 address (format 42, e.g. 5GrwvaEF...), got "//Alice"');
    expect(await usage(...CHAIN, "--metagraph-every", "0")).toContain('--metagraph-every must be a number of seconds >= 1, got "0"');
  });

  it("exits 2 on an allow-list it cannot read", async () => {
    expect(await usage("--secure", "--allow", "/nonexistent/hotkeys.txt")).toMatch(/^swarmline nats: --allow \/nonexistent\/hotkeys.txt: cannot read/);
  });
});

describe("planNats", () => {
  it("plans a metagraph gate: the subnet, its orchestrators once each, and a refresh every 60 s by default", () => {
    expect(planNats({ secure: true, chain: "wss://node:443", netuid: "3", orchestrator: [owner, owner] })).toEqual({
      json: false, admission: { kind: "metagraph", chain: "wss://node:443", netuid: 3, orchestrators: [owner], everyMs: 60_000 },
    });
    expect(planNats({ secure: true, chain: "ws://n", netuid: "0", orchestrator: [owner], metagraphEvery: "1.5", port: 4222, json: true })).toMatchObject({ port: 4222, json: true, admission: { netuid: 0, everyMs: 1_500 } });
  });

  it("plans an allow-list gate and an open server as before", () => {
    expect(planNats({ secure: true, allow: "hotkeys.txt", orchestrator: [] })).toEqual({ json: false, admission: { kind: "allow-list", file: "hotkeys.txt" } });
    expect(planNats({ orchestrator: [] })).toEqual({ json: false });
  });
});
