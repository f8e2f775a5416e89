// Per-actor permissions enforced by a real nats-server 2.9.10 with the generated authorization: a
// miner logs in with its ed25519 session key as an nkey, may write its own facts and the data it
// sends, and the server itself refuses everything else an attacker would try.
import { createUser } from "@nats-io/nkeys";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadHotkey } from "../../../src/actors/identity/index.js";
import { sessionKey } from "../../../src/actors/identity/session.js";
import { connectNats, type NatsConnection } from "../../../src/actors/nats/connection.js";
import { natsDataChannel } from "../../../src/actors/nats/data-channel.js";
import { ensureRunStreams } from "../../../src/actors/nats/eventlog.js";
import { natsBlobStore } from "../../../src/actors/nats/blobs.js";
import { nkeyOfEd25519, sessionAuthenticator } from "../../../src/actors/nats/nkey.js";
import { authorizationConf, inboxPrefix, type NatsUser } from "../../../src/actors/nats/permissions.js";
import { type EmbeddedNats, startEmbeddedNats } from "../../../src/actors/nats/testing.js";
import { streams, subjects } from "../../../src/events/subjects.js";

const RUN = "secured";
const seed = (n: number): Uint8Array => new Uint8Array(32).fill(n);
const actor = (name: string, n: number) => {
  const signer = sessionKey(seed(n));
  return { name: loadHotkey(`//${name}`).address, signer, nkey: nkeyOfEd25519(signer.publicKeyHex) };
};
const admin = actor("Alice", 1);
const minerA = actor("MinerA", 2);
const minerB = actor("MinerB", 3);
const minerC = actor("MinerC", 4);
const users = (extra: NatsUser[] = []): NatsUser[] => [
  { nkey: admin.nkey, role: "admin" },
  { nkey: minerA.nkey, role: "miner", actor: minerA.name, run: RUN },
  { nkey: minerB.nkey, role: "miner", actor: minerB.name, run: RUN },
  ...extra,
];
const login = (a: ReturnType<typeof actor>) => ({ authenticator: sessionAuthenticator(a.signer), inboxPrefix: inboxPrefix(a.name) });

let nats: EmbeddedNats;
let root: NatsConnection;
let a: NatsConnection;
beforeAll(async () => {
  nats = await startEmbeddedNats({ authorization: authorizationConf(users()), inheritOutput: process.env.NATS_DEBUG !== undefined });
  root = await connectNats(nats.url, "admin", login(admin));
  await ensureRunStreams(await jetstreamManager(root), RUN);
  await natsDataChannel(root, RUN); // the run's data stream, created by the admin as a run's launcher does
  await natsBlobStore(root, RUN, { writer: "launcher" }); // the run's blob stream
  a = await connectNats(nats.url, "miner-a", login(minerA));
});
afterAll(async () => {
  await Promise.all([root?.drain(), a?.drain()].map((p) => p?.catch(() => undefined)));
  await nats?.stop();
});

/** The 32-byte ed25519 seed inside an nkeys seed (`SU...`): base32 of 2 prefix bytes, the seed, a crc16. */
const rawSeed = (text: string): Uint8Array => {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of text) {
    value = (value << 5) | alphabet.indexOf(ch);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Uint8Array.from(out.slice(2, 34));
};

/** Resolves "ok" or the error's message: a refusal must come back as an error, never as silence. */
const outcome = (p: Promise<unknown>): Promise<string> =>
  p.then(() => "ok", (e: unknown) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e)));

describe("per-actor NATS permissions", () => {
  it("encodes an ed25519 session key as the nkey user key the nkeys library derives from the same seed", () => {
    for (let i = 0; i < 20; i++) {
      const kp = createUser();
      const raw = rawSeed(new TextDecoder().decode(kp.getSeed()));
      expect(nkeyOfEd25519(sessionKey(raw).publicKeyHex)).toBe(kp.getPublicKey());
    }
    expect(() => nkeyOfEd25519("zz")).toThrow(/64 hex/);
  });

  it("lets a miner append to its own fact subject and send data that names it as the sender", async () => {
    const js = jetstream(a);
    await expect(js.publish(subjects.facts(RUN, minerA.name), "{}")).resolves.toMatchObject({ seq: expect.any(Number) });
    const data = await natsDataChannel(a, RUN);
    await expect(data.send("act", minerA.name, minerB.name, "r1", "l1", new Uint8Array([1, 2, 3]))).resolves.toBeUndefined();
  });

  it("refuses a miner publishing on another miner's fact subject, or data in another miner's name", async () => {
    const js = jetstream(a, { timeout: 2_000 });
    expect(await outcome(js.publish(subjects.facts(RUN, minerB.name), "{}"))).toMatch(/permission/i);
    expect(await outcome(js.publish(subjects.data(RUN, "act", minerA.name, minerB.name), new Uint8Array([1])))).toMatch(/permission/i);
  });

  it("refuses a miner deleting blobs, purging or deleting a stream, or removing one message", async () => {
    const jsm = await jetstreamManager(a, { checkAPI: false });
    expect(await outcome(jsm.streams.purge(streams.blobs(RUN)))).toMatch(/permission|timeout/i);
    expect(await outcome(jsm.streams.delete(streams.blobs(RUN)))).toMatch(/permission|timeout/i);
    expect(await outcome(jsm.streams.deleteMessage(`SWL_F_${RUN}`, 1))).toMatch(/permission|timeout/i);
    // The admin's view: nothing was removed.
    const info = await (await jetstreamManager(root)).streams.info(`SWL_F_${RUN}`);
    expect(info.state.messages).toBeGreaterThanOrEqual(1);
  });

  it("lets a miner store blobs under its own name and read everyone's, and refuses it writing a part of another writer's copy", async () => {
    const mine = await natsBlobStore(a, RUN, { writer: minerA.name });
    const ref = await mine.put(Uint8Array.of(1, 2, 3));
    const theirs = await natsBlobStore(root, RUN, { writer: minerB.name, cacheBytes: 0 });
    const other = await theirs.put(Uint8Array.of(4, 5, 6));
    expect(await (await natsBlobStore(a, RUN, { writer: minerA.name, cacheBytes: 0 })).get(other)).toEqual(Uint8Array.of(4, 5, 6));
    const js = jetstream(a, { timeout: 2_000 });
    // Writing as miner B (a forged copy of a blob B has not stored yet, or a chunk of one it has) is refused.
    expect(await outcome(js.publish(subjects.blob(RUN, minerB.name, "a".repeat(64), "m"), "{}"))).toMatch(/permission/i);
    expect(await outcome(js.publish(subjects.blob(RUN, minerB.name, other, "c0"), Uint8Array.of(9)))).toMatch(/permission/i);
    // And its own copy, once stored, cannot be replaced even by itself.
    expect(await outcome(js.publish(subjects.blob(RUN, minerA.name, ref, "c0"), Uint8Array.of(9)))).toMatch(/maximum messages per subject/i);
  });

  it("refuses a miner reading another actor's inbox", async () => {
    const sub = a.subscribe(`${inboxPrefix(minerB.name)}.>`);
    // nats.js settles `closed` with the server's refusal (a value, not a rejection).
    const closed = await sub.closed;
    expect(String(closed)).toMatch(/permission/i);
  });

  it("refuses a key that is not on the list, and admits it after the file is rewritten and reloaded, keeping everyone connected", async () => {
    expect(await outcome(connectNats(nats.url, "miner-c", login(minerC)))).toMatch(/authorization|cannot connect/i);
    nats.setAuthorization(authorizationConf(users([{ nkey: minerC.nkey, role: "miner", actor: minerC.name, run: RUN }])));
    let c: NatsConnection | undefined;
    for (let i = 0; i < 50 && c === undefined; i++) {
      c = await connectNats(nats.url, "miner-c", login(minerC)).catch(async () => {
        await new Promise((r) => setTimeout(r, 100));
        return undefined;
      });
    }
    expect(c).toBeDefined();
    await expect(jetstream(c as NatsConnection).publish(subjects.facts(RUN, minerC.name), "{}")).resolves.toBeDefined();
    await c?.drain();
    // Miner A's connection lived through the reload and still writes its own subject.
    await expect(jetstream(a).publish(subjects.facts(RUN, minerA.name), "{}")).resolves.toBeDefined();
    expect(a.isClosed()).toBe(false);
  });
});
