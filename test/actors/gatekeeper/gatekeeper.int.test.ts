// The gatekeeper on a real nats-server: a registered hotkey joins by hot reload and writes only its
// own subject, everyone else is refused with the reason, and a removed miner is disconnected.
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectAsMember, JoinRefused, joinSecuredRun } from "../../../src/actors/gatekeeper/join.js";
import { type Gatekeeper, startGatekeeper } from "../../../src/actors/gatekeeper/host.js";
import { cryptoReady, loadHotkey } from "../../../src/actors/identity/index.js";
import { sessionKey } from "../../../src/actors/identity/session.js";
import { connectJoiner, connectNats, type NatsConnection } from "../../../src/actors/nats/connection.js";
import { ensureRunStreams } from "../../../src/actors/nats/eventlog.js";
import { nkeyOfEd25519, sessionAuthenticator } from "../../../src/actors/nats/nkey.js";
import { authorizationConf, inboxPrefix, type NatsUser } from "../../../src/actors/nats/permissions.js";
import { type EmbeddedNats, startEmbeddedNats } from "../../../src/actors/nats/testing.js";
import { subjects } from "../../../src/events/subjects.js";
import { Effect } from "effect";
import { exportFromNats } from "../../../src/actors/nats/export.js";
import type { JoinRole } from "../../../src/machines/gatekeeper/index.js";

const RUN = "gated";
const adminSigner = sessionKey(new Uint8Array(32).fill(9));
const adminUser: NatsUser = { nkey: nkeyOfEd25519(adminSigner.publicKeyHex), role: "admin" };
const miner = loadHotkey("//MinerA");
const validator = loadHotkey("//Validator");
const stranger = loadHotkey("//Stranger");
const orchestrator = loadHotkey("//Alice");
const registry = new Map<string, ReadonlySet<JoinRole>>([
  [orchestrator.address, new Set<JoinRole>(["orchestrator"])],
  [miner.address, new Set<JoinRole>(["miner"])],
  [validator.address, new Set<JoinRole>(["miner", "validator"])],
]);

let nats: EmbeddedNats;
let admin: NatsConnection;
let gate: Gatekeeper;
beforeAll(async () => {
  await cryptoReady();
  nats = await startEmbeddedNats({ authorization: authorizationConf([adminUser], { joiner: true }) });
  admin = await connectNats(nats.url, "admin", { authenticator: sessionAuthenticator(adminSigner), inboxPrefix: inboxPrefix("admin") });
  await ensureRunStreams(await jetstreamManager(admin), RUN);
  gate = await startGatekeeper({ nc: admin, registry: () => registry, fixed: [adminUser], install: (conf) => nats.setAuthorization(conf), followKicks: true });
});
afterAll(async () => {
  await gate?.stop();
  await admin?.drain().catch(() => undefined);
  await nats?.stop();
});

const refusal = (p: Promise<unknown>): Promise<string> =>
  p.then(() => "admitted", (e: unknown) => (e instanceof JoinRefused ? e.reason : `other: ${String(e)}`));

/** The nkeys of the clients connected now, from the server's monitoring endpoint. */
const connectedNkeys = async (): Promise<string[]> => {
  const r = await fetch(`http://127.0.0.1:${nats.monitorPort}/connz?auth=1`);
  const body = (await r.json()) as { connections?: { authorized_user?: string }[] };
  return (body.connections ?? []).map((c) => c.authorized_user ?? "");
};

describe("gatekeeper", () => {
  it("admits a registered miner by hot reload; it then writes its own fact subject and no other", async () => {
    const m = await joinSecuredRun(nats.url, RUN, miner, "miner");
    const nc = await connectAsMember(nats.url, "miner-a", m);
    await expect(jetstream(nc).publish(subjects.facts(RUN, miner.address), "{}")).resolves.toBeDefined();
    const other = await jetstream(nc, { timeout: 2_000 }).publish(subjects.facts(RUN, validator.address), "{}").then(() => "ok", (e: unknown) => String(e));
    expect(other).toMatch(/permission/i);
    expect(gate.users().map((u) => u.actor ?? "admin")).toEqual(["admin", miner.address]);
    // The admin's connection lived through the reload.
    expect(admin.isClosed()).toBe(false);
    await nc.drain();
  });

  it("refuses an unregistered hotkey, a certificate for another hotkey, a role the hotkey lacks, and junk, naming each", async () => {
    expect(await refusal(joinSecuredRun(nats.url, RUN, stranger, "miner"))).toBe("NotRegistered");
    expect(await refusal(joinSecuredRun(nats.url, RUN, miner, "validator"))).toBe("RoleNotAllowed");
    // A stranger replays the miner's address with its own signature.
    const forged = { certificate: { hotkey: miner.address, sessionKey: "ab".repeat(32), certificate: stranger.sign("anything").replace(/^0x/, "") }, role: "miner" };
    const joiner = await connectJoiner(nats.url);
    const reply = (await joiner.request(subjects.join(RUN), JSON.stringify(forged), { timeout: 5_000 })).json<{ ok: boolean; reason?: string }>();
    expect(reply).toMatchObject({ ok: false, reason: "BadCertificate" });
    const junk = (await joiner.request(subjects.join(RUN), "not json", { timeout: 5_000 })).json<{ ok: boolean; reason?: string }>();
    expect(junk).toMatchObject({ ok: false, reason: "MalformedRequest" });
    // The unauthenticated joiner may ask to join, and nothing else.
    const publish = await jetstream(joiner, { timeout: 2_000 }).publish(subjects.facts(RUN, stranger.address), "{}").then(() => "ok", (e: unknown) => String(e));
    expect(publish).toMatch(/permission/i);
    await joiner.close();
    expect(gate.users().map((u) => u.actor ?? "admin")).toEqual(["admin", miner.address]);
  });

  it("disconnects a removed miner and refuses its key from then on", async () => {
    const m = await joinSecuredRun(nats.url, RUN, validator, "validator");
    const nc = await connectAsMember(nats.url, "validator", m);
    const nkey = gate.users().find((u) => u.actor === validator.address)?.nkey ?? "";
    expect(await connectedNkeys()).toContain(nkey);
    await gate.remove(RUN, validator.address);
    let still = true;
    for (let i = 0; i < 50 && still; i++) {
      await new Promise((r) => setTimeout(r, 100));
      still = (await connectedNkeys()).includes(nkey);
    }
    expect(still).toBe(false);
    await nc.close();
    await expect(connectNats(nats.url, "validator-again", m.login)).rejects.toThrow(/cannot connect/);
  });

  it("removes a miner its run's orchestrator kicks, and ignores a kick published by anyone else", async () => {
    const orch = await connectAsMember(nats.url, "orchestrator", await joinSecuredRun(nats.url, RUN, orchestrator, "orchestrator"));
    const m = await joinSecuredRun(nats.url, RUN, miner, "miner");
    const nc = await connectAsMember(nats.url, "miner-a2", m);
    const kick = (by: string, who: string) => JSON.stringify({ type: "MinerKicked", actor: by, payload: { miner: who, reason: "operator" } });
    // A miner cannot kick: it has no orchestrator's rights, and its own subject is not followed for kicks.
    nc.publish(subjects.facts(RUN, miner.address), kick(miner.address, miner.address));
    await nc.flush();
    await new Promise((r) => setTimeout(r, 300));
    expect(gate.users().some((u) => u.actor === miner.address)).toBe(true);
    orch.publish(subjects.facts(RUN, orchestrator.address), kick(orchestrator.address, miner.address));
    await orch.flush();
    for (let i = 0; i < 50 && gate.users().some((u) => u.actor === miner.address); i++) await new Promise((r) => setTimeout(r, 100));
    expect(gate.users().some((u) => u.actor === miner.address)).toBe(false);
    await nc.close();
    await orch.drain();
  });

  it("admits any hotkey as an auditor: it reads the run's facts (log export) and asks for refills, and writes nothing", async () => {
    const m = await joinSecuredRun(nats.url, RUN, stranger, "auditor");
    const nc = await connectAsMember(nats.url, "auditor", m);
    await jetstream(admin).publish(subjects.facts(RUN, orchestrator.address), "not an event");
    const lines: string[] = [];
    const summary = await Effect.runPromise(exportFromNats(nc, RUN, (ls) => { lines.push(...ls); }, { refillWaitMs: 200 }));
    expect(summary.refused).toBeGreaterThan(0); // the garbage, read through the auditor's own connection
    expect(JSON.parse(lines[0] as string)).toMatchObject({ swarmline: "log", run: RUN });
    const write = await jetstream(nc, { timeout: 2_000 }).publish(subjects.facts(RUN, stranger.address), "{}").then(() => "ok", (e: unknown) => String(e));
    expect(write).toMatch(/permission/i);
    expect(gate.users().find((u) => u.actor === stranger.address)?.role).toBe("auditor");
    await nc.drain();
  });
});
