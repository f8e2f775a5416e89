// The metagraph-gated gatekeeper on a real nats-server, reading an in-process subtensor node that
// serves the real metadata: registration decides who joins and as what, a hotkey registered after
// the snapshot is admitted on its first join, and a refresh removes a deregistered one.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { metagraphReader, type MetagraphReader } from "../../../src/actors/chain/index.js";
import { connectAsMember, JoinRefused, joinSecuredRun } from "../../../src/actors/gatekeeper/join.js";
import { type Gatekeeper, startGatekeeper } from "../../../src/actors/gatekeeper/host.js";
import { followMetagraph, type MetagraphFollower, type MetagraphRegistry, openMetagraphRegistry } from "../../../src/actors/gatekeeper/metagraph.js";
import { cryptoReady, type Hotkey, loadHotkey } from "../../../src/actors/identity/index.js";
import { sessionKey } from "../../../src/actors/identity/session.js";
import { connectNats, type NatsConnection } from "../../../src/actors/nats/connection.js";
import { nkeyOfEd25519, sessionAuthenticator } from "../../../src/actors/nats/nkey.js";
import { authorizationConf, inboxPrefix, type NatsUser } from "../../../src/actors/nats/permissions.js";
import { type EmbeddedNats, startEmbeddedNats } from "../../../src/actors/nats/testing.js";
import type { JoinRole, Member } from "../../../src/machines/gatekeeper/index.js";
import type { Subnet } from "../chain/support/runtime.js";
import { NETUID, type TestSubnet, testSubnet } from "../chain/support/subnet.js";

const RUN = "metagraph-gated";
const adminSigner = sessionKey(new Uint8Array(32).fill(5));
const adminUser: NatsUser = { nkey: nkeyOfEd25519(adminSigner.publicKeyHex), role: "admin" };
// testSubnet: //Validator at uid 0 with a permit, //Miner1..5 at uids 1..5 without.
const validator = loadHotkey("//Validator");
const miner1 = loadHotkey("//Miner1");
const miner2 = loadHotkey("//Miner2");
const miner3 = loadHotkey("//Miner3");
const newcomer = loadHotkey("//Newcomer");
const stranger = loadHotkey("//Stranger");
const owner = loadHotkey("//Alice");

let subnet: TestSubnet;
let net: Subnet;
let nats: EmbeddedNats;
let admin: NatsConnection;
let reader: MetagraphReader;
let source: MetagraphRegistry;
let gate: Gatekeeper;
let follower: MetagraphFollower;
let clock = 0;
const reads = { n: 0 };
const warnings: string[] = [];
const revoked: Member[] = [];

beforeAll(async () => {
  await cryptoReady();
  subnet = await testSubnet();
  net = subnet.node.subnets.get(NETUID) as Subnet;
  nats = await startEmbeddedNats({ authorization: authorizationConf([adminUser], { joiner: true }) });
  admin = await connectNats(nats.url, "admin", { authenticator: sessionAuthenticator(adminSigner), inboxPrefix: inboxPrefix("admin") });
  reader = await metagraphReader(subnet.node, NETUID);
  source = await openMetagraphRegistry({
    read: () => { reads.n++; return reader.read(); }, orchestrators: [owner.address], recheckGapMs: 5_000, readTimeoutMs: 2_000, now: () => clock,
    onReadFailed: (m) => warnings.push(m),
  });
  gate = await startGatekeeper({ nc: admin, registry: source.registry, recheck: source.recheck, fixed: [adminUser], install: (conf) => nats.setAuthorization(conf), onRevoke: (m) => revoked.push(m) });
  // Refreshed by the tests only: an hour is never reached.
  follower = followMetagraph(source, gate, 3_600_000);
});
afterAll(async () => {
  follower?.stop();
  await gate?.stop();
  await reader?.close();
  await admin?.drain().catch(() => undefined);
  await nats?.stop();
});

const outcome = (p: Promise<unknown>): Promise<string> =>
  p.then(() => "admitted", (e: unknown) => (e instanceof JoinRefused ? e.reason : `other: ${String(e)}`));
const join = (h: Hotkey, role: JoinRole): Promise<string> => outcome(joinSecuredRun(nats.url, RUN, h, role));
const names = new Map([validator, miner1, miner2, miner3, newcomer, stranger, owner].map((h, i) => [h.address, ["validator", "miner1", "miner2", "miner3", "newcomer", "stranger", "owner"][i] as string]));
const name = (address: string): string => names.get(address) ?? address;
/** The admitted members as "name role-on-the-bus", sorted. */
const members = (): string[] => gate.users().flatMap((u) => (u.actor === undefined ? [] : [`${name(u.actor)} ${u.role}`])).sort();

/** The nkeys of the clients connected now, from the server's monitoring endpoint. */
const connectedNkeys = async (): Promise<string[]> => {
  const body = (await (await fetch(`http://127.0.0.1:${nats.monitorPort}/connz?auth=1`)).json()) as { connections?: { authorized_user?: string }[] };
  return (body.connections ?? []).map((c) => c.authorized_user ?? "");
};

describe("metagraph-gated gatekeeper", () => {
  it("admits a registered hotkey as a miner, and it logs in", async () => {
    const m = await joinSecuredRun(nats.url, RUN, miner1, "miner");
    const nc = await connectAsMember(nats.url, "miner1", m);
    await nc.flush();
    expect(members()).toEqual(["miner1 miner"]);
    await nc.close();
  });

  it("refuses an unregistered hotkey as NotRegistered, and asks the chain again only once per gap", async () => {
    const before = reads.n;
    clock += 10_000;
    expect(await join(stranger, "miner")).toBe("NotRegistered");
    expect(reads.n).toBe(before + 1);
    // Join spam within the gap is refused from the snapshot, without touching the chain.
    for (let i = 0; i < 3; i++) expect(await join(stranger, "miner")).toBe("NotRegistered");
    expect(reads.n).toBe(before + 1);
  });

  it("admits a permit-holder as a validator and refuses one without a permit (RoleNotAllowed)", async () => {
    expect(await join(validator, "validator")).toBe("admitted");
    expect(await join(miner2, "validator")).toBe("RoleNotAllowed");
    expect(await join(miner2, "orchestrator")).toBe("RoleNotAllowed");
  });

  it("admits the named orchestrator, which is not registered on the subnet", async () => {
    expect(net.neurons.some((n) => n.hotkey === owner.address)).toBe(false);
    expect(await join(owner, "orchestrator")).toBe("admitted");
    expect(await join(owner, "miner")).toBe("RoleNotAllowed");
  });

  it("admits a hotkey registered after the snapshot on its first join, without waiting for a refresh", async () => {
    net.neurons.push({ hotkey: newcomer.address, stake: 1n, permit: false });
    subnet.node.advance(1);
    clock += 10_000;
    expect(source.registry().has(newcomer.address)).toBe(false);
    expect(await join(newcomer, "miner")).toBe("admitted");
    expect(source.snapshot().block).toBe(subnet.node.head.number);
  });

  it("on refresh removes a deregistered miner (the server disconnects it) and a validator whose permit lapsed", async () => {
    const m = await joinSecuredRun(nats.url, RUN, miner3, "miner");
    const nc = await connectAsMember(nats.url, "miner3", m);
    const nkey = gate.users().find((u) => u.actor === miner3.address)?.nkey ?? "";
    expect(await connectedNkeys()).toContain(nkey);
    // Subtensor deregisters by replacing the uid's hotkey with the new registrant's.
    const uid = net.neurons.findIndex((n) => n.hotkey === miner3.address);
    net.neurons[uid] = { hotkey: stranger.address, stake: 1n, permit: false };
    net.neurons[0] = { ...(net.neurons[0] as Subnet["neurons"][number]), permit: false };
    subnet.node.advance(1);
    revoked.length = 0;
    const gone = await follower.refresh();
    expect(gone.map((x) => `${name(x.hotkey)} ${x.role}`).sort()).toEqual(["miner3 miner", "validator validator"]);
    expect(revoked).toEqual(gone);
    expect(members()).toEqual(["miner1 miner", "newcomer miner", "owner admin"]);
    let still = true;
    for (let i = 0; i < 50 && still; i++) {
      await new Promise((r) => setTimeout(r, 100));
      still = (await connectedNkeys()).includes(nkey);
    }
    expect(still).toBe(false);
    await nc.close();
    // The new registrant at that uid is in; the lapsed validator may still mine.
    expect(await join(stranger, "miner")).toBe("admitted");
    expect(await join(validator, "validator")).toBe("RoleNotAllowed");
    expect(await join(validator, "miner")).toBe("admitted");
  });

  it("keeps the last snapshot when the chain cannot be read, and admits from it", async () => {
    const send = subnet.node.send.bind(subnet.node);
    subnet.node.send = () => Promise.reject(new Error("connection reset by peer"));
    try {
      warnings.length = 0;
      const block = source.snapshot().block;
      expect(await follower.refresh()).toEqual([]);
      expect(warnings).toEqual([expect.stringMatching(/^ChainUnavailable: cannot read subnet 3: .*connection reset by peer/)]);
      expect(source.snapshot().block).toBe(block);
      expect(await join(miner2, "miner")).toBe("admitted");
    } finally {
      subnet.node.send = send;
    }
    expect(await source.refresh()).toBe(true);
  });
});
