// An in-process subtensor node behind @polkadot/api's ProviderInterface: it serves the real
// metadata (spec 219), storage for a small subnet and the Commitments pallet, instant-sealed
// blocks and their events, and DECODES every submitted extrinsic with that metadata, checking
// its signature against the signer's account before anything is applied. Like a node, it tells
// storage subscribers the values that changed at each new block (@polkadot/api keeps a
// subscription alive for ~1.75 s after a read and answers the next read from it): a test that
// changes `subnets` seals a block. Tests read `submitted` to see exactly what the adapter sent.
// There is no subtensor node on this machine; this is the closest honest stand-in.
import type { ProviderInterface, ProviderInterfaceCallback, ProviderInterfaceEmitCb, ProviderInterfaceEmitted } from "@polkadot/rpc-provider/types";
import type { TypeRegistry } from "@polkadot/types";
import type { Extrinsic } from "@polkadot/types/interfaces";
import { compactToU8a, stringCamelCase, u8aConcat, u8aToHex } from "@polkadot/util";
import { blake2AsU8a, decodeAddress, signatureVerify } from "@polkadot/util-crypto";
import { loadRegistry, type MetadataFixture, metadataFixture } from "./metadata.js";
import { applyCommitmentCall, applyWeightCall, type CommitmentLimits, type Commitments, makeCommitments, makeSubnet, type Outcome, type Subnet, type SubnetSpec } from "./runtime.js";
import { storageKey, subnetStorage } from "./storage.js";

/** One extrinsic as the node decoded it: the call by its metadata names, its arguments, its signer. */
export interface SubmittedExtrinsic {
  readonly hex: string;
  readonly hash: string;
  readonly signer: string;
  readonly section: string;
  readonly method: string;
  readonly args: Record<string, unknown>;
  readonly block: number;
  readonly outcome: Outcome;
}

interface Block { readonly number: number; readonly hash: string; readonly header: unknown; readonly extrinsics: string[]; readonly events: string }

const H0 = `0x${"00".repeat(32)}`;

export class MemorySubtensor implements ProviderInterface {
  readonly hasSubscriptions = true;
  readonly isClonable = false;
  readonly isConnected = true;
  readonly fixture: MetadataFixture = metadataFixture();
  readonly registry: TypeRegistry;
  readonly subnets = new Map<number, Subnet>();
  /** The Commitments pallet's storage (CommitmentOf, LastCommitment), by netuid then hotkey. */
  readonly commitments: Commitments = makeCommitments();
  /** The Commitments pallet's constants, read from the metadata. */
  readonly commitmentLimits: CommitmentLimits;
  /** Every extrinsic submitted, decoded, in order (refused ones are not here: they never reached a block). */
  readonly submitted: SubmittedExtrinsic[] = [];
  /** Every RPC method called, in order, so a test can assert that nothing was submitted. */
  readonly calls: string[] = [];
  private readonly decorated;
  private readonly blocks: Block[] = [];
  private readonly nonces = new Map<string, number>();
  private nextSub = 1;
  /** Live state_subscribeStorage subscriptions: their keys, callback and the values last sent. */
  private readonly storageSubs = new Map<number, { readonly keys: string[]; readonly cb: ProviderInterfaceCallback; readonly sent: Map<string, string | null> }>();
  private readonly eventsKey: string;

  constructor(subnets: readonly SubnetSpec[], startBlock = 1000) {
    const r = loadRegistry(this.fixture);
    this.registry = r.registry;
    this.decorated = r.decorated;
    const events = this.decorated.query["system"]?.["events"];
    if (events === undefined) throw new Error("no System.Events in the metadata");
    this.eventsKey = storageKey(events());
    const k = this.decorated.consts["commitments"];
    if (k === undefined) throw new Error("no Commitments constants in the metadata");
    this.commitmentLimits = {
      maxFields: Number(k["maxFields"]?.toString()), rateLimit: Number(k["rateLimit"]?.toString()),
      initialDeposit: BigInt(k["initialDeposit"]?.toString() ?? "0"), fieldDeposit: BigInt(k["fieldDeposit"]?.toString() ?? "0"),
    };
    for (const s of subnets) this.subnets.set(s.netuid, makeSubnet(s));
    this.seal(startBlock, [], new Uint8Array([0]));
  }

  get head(): Block {
    return this.blocks[this.blocks.length - 1] as Block;
  }

  /** Seals `n` empty blocks (a test's way of letting time pass, e.g. to a reveal window). */
  advance(n: number): void {
    for (let i = 0; i < n; i++) this.seal(this.head.number + 1, [], new Uint8Array([0]));
  }

  private seal(number: number, extrinsics: string[], events: Uint8Array): Block {
    const header = this.registry.createType("Header", { parentHash: this.blocks.length === 0 ? H0 : this.head.hash, number, stateRoot: H0, extrinsicsRoot: u8aToHex(blake2AsU8a(u8aConcat(...extrinsics.map((x) => new TextEncoder().encode(x))))), digest: { logs: [] } });
    const b = { number, hash: header.hash.toHex(), header: header.toJSON(), extrinsics, events: u8aToHex(events) };
    this.blocks.push(b);
    for (const sub of this.storageSubs.values()) this.notifyStorage(sub);
    return b;
  }

  /** Sends a storage subscriber the values that changed since it was last told (all of them the first time). */
  private notifyStorage(sub: { readonly keys: string[]; readonly cb: ProviderInterfaceCallback; readonly sent: Map<string, string | null> }): void {
    const now = sub.keys.map((k) => [k, this.storage(k, undefined)] as const);
    const changes = now.filter(([k, v]) => !sub.sent.has(k) || sub.sent.get(k) !== v);
    for (const [k, v] of changes) sub.sent.set(k, v);
    if (changes.length > 0) sub.cb(null, { block: this.head.hash, changes });
  }

  private runtimeVersion(): object {
    return { specName: this.fixture.specName, implName: this.fixture.specName, authoringVersion: 1, specVersion: this.fixture.specVersion, implVersion: 1, apis: [], transactionVersion: this.fixture.txVersion, stateVersion: 1 };
  }

  private block(hash: unknown): Block | undefined {
    return hash === undefined || hash === null ? this.head : this.blocks.find((b) => b.hash === hash);
  }

  private storage(key: string, at: unknown): string | null {
    const b = this.block(at) ?? this.head;
    if (key === this.eventsKey) return b.events;
    return subnetStorage(this.registry, this.decorated, this.subnets, this.commitments).get(key) ?? null;
  }

  async send<T = unknown>(method: string, params: unknown[]): Promise<T> {
    this.calls.push(method);
    return this.answer(method, params) as T;
  }

  private answer(method: string, params: unknown[]): unknown {
    switch (method) {
      case "rpc_methods": return { version: 1, methods: ["system_accountNextIndex", "author_submitAndWatchExtrinsic", "author_submitExtrinsic", "state_getStorage", "state_queryStorageAt", "chain_getHeader", "chain_getBlock", "chain_getBlockHash", "chain_getFinalizedHead"] };
      case "system_chain": return this.fixture.chainName;
      case "system_name": return "swarmline-memory-subtensor";
      case "system_version": return "0.0.0";
      case "system_properties": return { ss58Format: 42, tokenDecimals: [9], tokenSymbol: ["TAO"] };
      case "state_getMetadata": return this.fixture.metadata;
      case "state_getRuntimeVersion": return this.runtimeVersion();
      case "chain_getBlockHash": {
        const n = params[0];
        if (n === 0 || n === "0x0") return this.fixture.genesisHash;
        return n === undefined || n === null ? this.head.hash : this.blocks.find((b) => b.number === Number(n))?.hash ?? null;
      }
      case "chain_getFinalizedHead": return this.head.hash;
      case "chain_getHeader": return this.block(params[0])?.header ?? null;
      case "chain_getBlock": {
        const b = this.block(params[0]);
        return b === undefined ? null : { block: { header: b.header, extrinsics: b.extrinsics }, justifications: null };
      }
      case "state_getStorage": return this.storage(String(params[0]), params[1]);
      case "state_queryStorageAt": {
        const b = this.block(params[1]) ?? this.head;
        return [{ block: b.hash, changes: (params[0] as string[]).map((k) => [k, this.storage(k, params[1])]) }];
      }
      case "system_accountNextIndex": return this.nonces.get(u8aToHex(decodeAddress(String(params[0])))) ?? 0;
      case "author_submitExtrinsic": return this.submit(String(params[0])).hash;
      default: throw new Error(`-32601: Method not found: ${method}`);
    }
  }

  /** Decodes, verifies and applies one extrinsic in a new block; throws as a node's pool refuses. */
  private submit(hex: string): SubmittedExtrinsic {
    const ext: Extrinsic = this.registry.createType("Extrinsic", hex);
    if (!ext.isSigned) throw new Error("1010: Invalid Transaction: unsigned transactions are not accepted");
    const signer = ext.signer.toString();
    if (!this.signatureValid(ext)) throw new Error("1010: Invalid Transaction: Transaction has a bad signature");
    const account = u8aToHex(decodeAddress(signer));
    const nonce = this.nonces.get(account) ?? 0;
    if (ext.nonce.toNumber() < nonce) throw new Error("1010: Invalid Transaction: Transaction is outdated");
    if (ext.nonce.toNumber() > nonce) throw new Error("1014: Priority is too low: future nonce");
    this.nonces.set(account, nonce + 1);
    const section = ext.method.section;
    const method = ext.method.meta.name.toString();
    const args: Record<string, unknown> = {};
    ext.method.meta.fields.forEach((f, i) => {
      args[f.name.unwrap().toString()] = ext.method.args[i]?.toJSON();
    });
    const number = this.head.number + 1;
    const outcome: Outcome = section === "subtensorModule"
      ? applyWeightCall(this.registry, this.subnets, signer, number, method, args)
      : section === "commitments"
        ? applyCommitmentCall(this.subnets, this.commitments, this.commitmentLimits, signer, number, method, args)
        : { ok: false, error: `unsupported call ${section}.${method}` };
    const block = this.seal(number, [hex], this.events(outcome, section === "commitments" ? "Commitments" : "SubtensorModule"));
    const s: SubmittedExtrinsic = { hex, hash: ext.hash.toHex(), signer, section, method, args, block: block.number, outcome };
    this.submitted.push(s);
    return s;
  }

  /** The signed payload rebuilt from the extrinsic's fields and this chain's constants, against each block an era may be born at. */
  private signatureValid(ext: Extrinsic): boolean {
    const candidates = [this.fixture.genesisHash, ...this.blocks.map((b) => b.hash)];
    return candidates.some((blockHash) => {
      const payload = this.registry.createType("ExtrinsicPayload", {
        method: ext.method.toHex(), era: ext.era, nonce: ext.nonce, tip: ext.tip, mode: 0, metadataHash: null,
        specVersion: this.fixture.specVersion, transactionVersion: this.fixture.txVersion, genesisHash: this.fixture.genesisHash, blockHash,
      }, { version: ext.version & 0x7f });
      const bytes = payload.toU8a({ method: true });
      const message = bytes.length > 256 ? blake2AsU8a(bytes, 256) : bytes;
      return signatureVerify(message, ext.signature.toU8a(), ext.signer.toString()).isValid;
    });
  }

  /**
   * System.Events of a block with one extrinsic of `pallet`: the call's own event and
   * ExtrinsicSuccess, or ExtrinsicFailed. set_commitment is Operational and free, as the pallet declares.
   */
  private events(o: Outcome, pallet: "SubtensorModule" | "Commitments"): Uint8Array {
    const record = (bytes: Uint8Array): Uint8Array => u8aConcat(new Uint8Array([0, 0, 0, 0, 0]), bytes, new Uint8Array([0]));
    const info = pallet === "Commitments"
      ? { weight: { refTime: 1_000_000, proofSize: 0 }, class: "Operational", paysFee: "No" }
      : { weight: { refTime: 1_000_000, proofSize: 0 }, class: "Normal", paysFee: "Yes" };
    if (!o.ok) {
      const index = this.decoratedPallet(pallet);
      const err = this.decorated.errors[stringCamelCase(pallet)]?.[o.error];
      const dispatchError = err === undefined ? { Other: null } : { Module: { index, error: u8aToHex(new Uint8Array([err.meta.index.toNumber(), 0, 0, 0])) } };
      return u8aConcat(compactToU8a(1), record(this.event("System", "ExtrinsicFailed", [dispatchError, info])));
    }
    return u8aConcat(compactToU8a(2), record(this.event(pallet, o.event.name, o.event.args)), record(this.event("System", "ExtrinsicSuccess", [info])));
  }

  private decoratedPallet(name: string): number {
    const p = this.registry.metadata.pallets.find((x) => x.name.toString() === name);
    if (p === undefined) throw new Error(`no pallet ${name} in the metadata`);
    return p.index.toNumber();
  }

  private event(pallet: string, name: string, args: readonly unknown[]): Uint8Array {
    const ev = this.decorated.events[stringCamelCase(pallet)]?.[name];
    if (ev === undefined) throw new Error(`no event ${pallet}.${name} in the metadata`);
    const fields = ev.meta.fields.map((f, i) => this.registry.createType(this.registry.createLookupType(f.type), args[i]).toU8a());
    return u8aConcat(new Uint8Array([this.decoratedPallet(pallet), ev.meta.index.toNumber()]), ...fields);
  }

  clone(): ProviderInterface {
    throw new Error("MemorySubtensor cannot be cloned");
  }

  async connect(): Promise<void> {}

  async disconnect(): Promise<void> {}

  on(type: ProviderInterfaceEmitted, sub: ProviderInterfaceEmitCb): () => void {
    // Connected from birth: the API is told once, after it registered.
    if (type === "connected") setImmediate(() => sub());
    return () => undefined;
  }

  async subscribe(_type: string, method: string, params: unknown[], cb: ProviderInterfaceCallback): Promise<number> {
    this.calls.push(method);
    const id = this.nextSub++;
    switch (method) {
      case "state_subscribeRuntimeVersion":
        setImmediate(() => cb(null, this.runtimeVersion()));
        return id;
      case "state_subscribeStorage": {
        // Every key's current value now, then the changed ones at each new block.
        const sub = { keys: params[0] as string[], cb, sent: new Map<string, string | null>() };
        this.storageSubs.set(id, sub);
        setImmediate(() => this.notifyStorage(sub));
        return id;
      }
      case "chain_subscribeNewHeads":
      case "chain_subscribeFinalizedHeads":
      case "chain_subscribeAllHeads":
        setImmediate(() => cb(null, this.head.header));
        return id;
      case "author_submitAndWatchExtrinsic": {
        const s = this.submit(String(params[0]));
        const hash = this.blocks.find((b) => b.number === s.block)?.hash as string;
        setImmediate(() => {
          cb(null, "ready");
          cb(null, { inBlock: hash });
          cb(null, { finalized: hash });
        });
        return id;
      }
      default:
        throw new Error(`-32601: Method not found: ${method}`);
    }
  }

  async unsubscribe(_type: string, _method: string, id: number | string): Promise<boolean> {
    this.storageSubs.delete(Number(id));
    return true;
  }
}
