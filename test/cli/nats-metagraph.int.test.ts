// `swarmline nats --secure --chain URL --netuid N --orchestrator ADDRESS` as the command runs it,
// with the in-process subtensor node as the chain: what it admits and refuses, what it prints, and
// a refresh that removes a deregistered miner while keeping the server up through a chain outage.
import { describe, expect, it } from "vitest";
import { JoinRefused, joinSecuredRun } from "../../src/actors/gatekeeper/join.js";
import { cryptoReady, type Hotkey, loadHotkey } from "../../src/actors/identity/index.js";
import { type NatsPlan, serveNats } from "../../src/cli/nats.js";
import type { JoinRole } from "../../src/machines/gatekeeper/index.js";
import type { MemorySubtensor } from "../actors/chain/support/provider.js";
import type { Subnet } from "../actors/chain/support/runtime.js";
import { NETUID, testSubnet } from "../actors/chain/support/subnet.js";
import { captureOutput } from "./capture.js";

const RUN = "cli-gated";
const validator = loadHotkey("//Validator");
const miner1 = loadHotkey("//Miner1");
const miner4 = loadHotkey("//Miner4");
const stranger = loadHotkey("//Stranger");
const owner = loadHotkey("//Alice");

const plan = (chain: MemorySubtensor, netuid = NETUID): NatsPlan => ({ json: true, admission: { kind: "metagraph", chain, netuid, orchestrators: [owner.address], everyMs: 3_600_000 } });

const outcome = (url: string, h: Hotkey, role: JoinRole): Promise<string> =>
  joinSecuredRun(url, RUN, h, role).then(() => "admitted", (e: unknown) => (e instanceof JoinRefused ? e.reason : `other: ${String(e)}`));

describe("swarmline nats --secure --chain", () => {
  const io = captureOutput();

  it("admits by the subnet's metagraph, says so on stderr, and on refresh removes a deregistered miner", async () => {
    await cryptoReady();
    const { node } = await testSubnet();
    const net = node.subnets.get(NETUID) as Subnet;
    const code = await serveNats(plan(node), async ({ nats, refresh }) => {
      if (refresh === undefined) throw new Error("a metagraph-gated server can be refreshed");
      expect(JSON.parse(io.out)).toMatchObject({ url: nats.url, secure: true });
      expect(io.err).toContain(`metagraph of subnet ${NETUID} at block ${node.head.number}: 6 hotkeys may join as miners, 1 as validators; orchestrator ${owner.address}; re-read every 3600 s`);
      expect(await outcome(nats.url, owner, "orchestrator")).toBe("admitted");
      expect(await outcome(nats.url, miner1, "miner")).toBe("admitted");
      expect(await outcome(nats.url, miner4, "miner")).toBe("admitted");
      expect(await outcome(nats.url, validator, "validator")).toBe("admitted");
      expect(await outcome(nats.url, miner1, "validator")).toBe("RoleNotAllowed");
      expect(await outcome(nats.url, stranger, "miner")).toBe("NotRegistered");
      expect(io.err).toContain(`admitted ${miner1.address} as miner`);
      expect(io.err).toContain(`refused: NotRegistered: hotkey ${stranger.address} is not registered`);

      // //Stranger registers at //Miner4's uid, deregistering it.
      net.neurons[4] = { hotkey: stranger.address, stake: 1n, permit: false };
      node.advance(1);
      const gone = await refresh();
      expect(gone.map((m) => m.hotkey)).toEqual([miner4.address]);
      expect(io.err).toContain(`metagraph of subnet ${NETUID} at block ${node.head.number}: registered ${stranger.address}; deregistered ${miner4.address}`);
      expect(io.err).toContain(`removed ${miner4.address} from run ${RUN}: no longer registered on subnet ${NETUID} at block ${node.head.number}`);
      expect(await outcome(nats.url, stranger, "miner")).toBe("admitted");
      expect(await outcome(nats.url, miner4, "miner")).toBe("NotRegistered");

      // The node stops answering: the server keeps the last snapshot, warns, and still admits.
      const send = node.send.bind(node);
      node.send = () => Promise.reject(new Error("connection reset by peer"));
      try {
        expect(await refresh()).toEqual([]);
        expect(io.err).toMatch(new RegExp(`swarmline nats: warning: cannot re-read the metagraph of subnet ${NETUID} \\(ChainUnavailable: cannot read subnet ${NETUID}: .*connection reset by peer\\); keeping the one of block ${node.head.number}`));
        expect(await outcome(nats.url, miner1, "miner")).toBe("admitted");
      } finally {
        node.send = send;
      }
    });
    expect(code).toBe(0);
  });

  it("exits 1 naming a subnet the chain does not have, before starting a server", async () => {
    const { node } = await testSubnet();
    let started = false;
    expect(await serveNats(plan(node, 42), async () => { started = true; })).toBe(1);
    expect(started).toBe(false);
    expect(io.out).toBe("");
    expect(io.err).toMatch(/^swarmline nats: UnknownNetuid: subnet 42 does not exist on this chain/);
  });
});
