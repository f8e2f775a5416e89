// `swarmline nats`: runs an embedded nats-server (JetStream, temporary directory) in the
// foreground, prints its URL, and stops it and removes its directory on Ctrl-C. With --secure it
// runs with per-actor permissions and a gatekeeper that admits the hotkeys of an allow-list
// (--allow FILE) or those registered on a subnet (--chain URL --netuid N: its metagraph, re-read on
// a schedule and when an unknown hotkey asks to join). Exit 2 on bad usage, 1 when the server or
// the chain cannot be started or read.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { type Command, InvalidArgumentError } from "commander";
import { type ChainEndpoint, isChainError, type MetagraphReader, metagraphReader } from "../actors/chain/index.js";
import { type Gatekeeper, startGatekeeper } from "../actors/gatekeeper/host.js";
import { followMetagraph, type MetagraphFollower, type MetagraphRegistry, openMetagraphRegistry, RECHECK_GAP_MS } from "../actors/gatekeeper/metagraph.js";
import { cryptoReady, isHotkeyAddress } from "../actors/identity/index.js";
import { sessionKey } from "../actors/identity/session.js";
import { connectNats, type NatsConnection } from "../actors/nats/connection.js";
import { type EmbeddedNats, startEmbeddedNats } from "../actors/nats/embedded.js";
import { nkeyOfEd25519, sessionAuthenticator } from "../actors/nats/nkey.js";
import { authorizationConf, inboxPrefix, type NatsUser } from "../actors/nats/permissions.js";
import { type Member, parseAllowList, type Registry, type RegistryChanges } from "../machines/gatekeeper/index.js";
import { setExit } from "./exit.js";
import { untilSignal } from "./swarm-process.js";
import { parseClusterSize, serveCluster } from "./nats-cluster.js";
import { parseNetuid } from "./metagraph.js";
import { UsageError } from "./run-settings.js";

type Flags = {
  port?: number; json?: boolean; cluster?: string; secure?: boolean; allow?: string;
  chain?: string; netuid?: string; orchestrator?: string[]; metagraphEvery?: string;
};

/** Who may join a secured server: an allow-list file, or a subnet's registered hotkeys. */
export type Admission =
  | { readonly kind: "allow-list"; readonly file: string }
  | { readonly kind: "metagraph"; readonly chain: ChainEndpoint; readonly netuid: number; readonly orchestrators: readonly string[]; readonly everyMs: number };

export interface NatsPlan {
  readonly port?: number;
  readonly json: boolean;
  /** Absent: an open server. */
  readonly admission?: Admission;
}

export const METAGRAPH_EVERY_S = 60;

/** The flags as a plan; a UsageError names the flag to fix (exit 2). */
export const planNats = (f: Flags): NatsPlan => {
  const orchestrators = f.orchestrator ?? [];
  const base = { ...(f.port === undefined ? {} : { port: f.port }), json: f.json === true };
  const chainOnly = [f.netuid !== undefined && "--netuid", orchestrators.length > 0 && "--orchestrator", f.metagraphEvery !== undefined && "--metagraph-every"].filter((x): x is string => x !== false);
  if (f.secure !== true) {
    const given = [f.allow !== undefined && "--allow", f.chain !== undefined && "--chain", ...chainOnly].filter((x): x is string => x !== false);
    if (given.length > 0) throw new UsageError({ message: `${given[0]} is for --secure servers` });
    return base;
  }
  if (f.allow !== undefined && f.chain !== undefined)
    throw new UsageError({ message: "--allow and --chain both say who may join: pass one (--allow FILE for a list of hotkeys, --chain URL --netuid N for a subnet's registered hotkeys)" });
  if (f.allow !== undefined) {
    if (chainOnly.length > 0) throw new UsageError({ message: `${chainOnly[0]} is for --chain servers (an allow-list names its orchestrator on a line "ADDRESS orchestrator")` });
    return { ...base, admission: { kind: "allow-list", file: f.allow } };
  }
  if (f.chain === undefined)
    throw new UsageError({ message: "--secure needs who may join: --allow FILE (hotkeys listed in a file) or --chain URL --netuid N --orchestrator ADDRESS (the hotkeys registered on a subnet); see --help" });
  if (!/^wss?:\/\//.test(f.chain)) throw new UsageError({ message: `--chain must be a ws:// or wss:// URL of a subtensor node, got "${f.chain}"` });
  if (f.netuid === undefined) throw new UsageError({ message: "--chain needs --netuid N: the subnet whose registered hotkeys may join" });
  const netuid = parseNetuid(f.netuid);
  if (orchestrators.length === 0)
    throw new UsageError({ message: "--chain needs --orchestrator ADDRESS: the hotkey that may orchestrate runs on this server (the metagraph grants only miner and validator; repeat the flag for more than one)" });
  const bad = orchestrators.find((a) => !isHotkeyAddress(a));
  if (bad !== undefined) throw new UsageError({ message: `--orchestrator must be a hotkey's ss58 address (format 42, e.g. 5GrwvaEF...), got "${bad}"` });
  const every = Number(f.metagraphEvery ?? METAGRAPH_EVERY_S);
  if (!Number.isFinite(every) || every < 1) throw new UsageError({ message: `--metagraph-every must be a number of seconds >= 1, got "${f.metagraphEvery}"` });
  return { ...base, admission: { kind: "metagraph", chain: f.chain, netuid, orchestrators: [...new Set(orchestrators)], everyMs: Math.round(every * 1000) } };
};

const say = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** The allow-list as it stands in the file (re-read on every join, so an operator may edit it live); the last good one when it no longer parses. */
const allowList = (file: string): (() => Registry) => {
  const read = (): Registry | string => {
    try {
      return parseAllowList(readFileSync(file, "utf8"));
    } catch (e) {
      return `cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`;
    }
  };
  const first = read();
  if (typeof first === "string") throw new UsageError({ message: `--allow ${file}: ${first}` });
  let last: Registry = first;
  return () => {
    const r = read();
    if (typeof r === "string") say(`swarmline nats: --allow ${file}: ${r}; keeping the previous list`);
    else last = r;
    return last;
  };
};

/** One line on what a new snapshot changed, or null when it changed nothing. */
const changesLine = (netuid: number, block: number, c: RegistryChanges, registry: Registry): string | null => {
  const parts = [
    c.added.length > 0 && `registered ${c.added.join(", ")}`,
    c.removed.length > 0 && `deregistered ${c.removed.join(", ")}`,
    c.changed.length > 0 && `roles changed ${c.changed.map((h) => `${h} (${[...(registry.get(h) ?? [])].sort().join(", ")})`).join(", ")}`,
  ].filter((x): x is string => x !== false);
  return parts.length === 0 ? null : `metagraph of subnet ${netuid} at block ${block}: ${parts.join("; ")}`;
};

const count = (r: Registry, role: "miner" | "validator"): number => [...r.values()].filter((s) => s.has(role)).length;

/** A running server, as `serveNats` hands it to the caller until it should stop. */
export interface ServingNats {
  readonly nats: EmbeddedNats;
  /** Metagraph-gated only: re-read the metagraph now and remove who it no longer admits (what the timer does). */
  readonly refresh?: () => Promise<readonly Member[]>;
}

/** Who may join, opened: the registry the gatekeeper reads, and the metagraph behind it if any. */
interface Roster {
  readonly registry: () => Registry;
  readonly recheck?: () => Promise<void>;
  readonly source?: MetagraphRegistry;
  readonly netuid?: number;
  close(): Promise<void>;
}

/** Opens who may join: reads the allow-list, or connects to the chain and reads the first snapshot (a server must not start on a subnet it cannot read). */
const openRoster = async (a: Admission): Promise<Roster> => {
  if (a.kind === "allow-list") {
    const registry = allowList(a.file);
    return { registry, close: async () => undefined };
  }
  const reader: MetagraphReader = await metagraphReader(a.chain, a.netuid);
  let opened = false;
  try {
    const source = await openMetagraphRegistry({
      read: reader.read, orchestrators: a.orchestrators,
      onSnapshot: (m, registry, c) => {
        if (!opened) return; // the first one is said below, in full
        const line = changesLine(a.netuid, m.block, c, registry);
        if (line !== null) say(line);
      },
      onReadFailed: (message, kept) => say(`swarmline nats: warning: cannot re-read the metagraph of subnet ${a.netuid} (${message}); keeping the one of block ${kept.block}`),
    });
    opened = true;
    const r = source.registry();
    say(`metagraph of subnet ${a.netuid} at block ${source.snapshot().block}: ${count(r, "miner")} hotkeys may join as miners, ${count(r, "validator")} as validators; orchestrator${a.orchestrators.length > 1 ? "s" : ""} ${a.orchestrators.join(", ")}; re-read every ${a.everyMs / 1000} s and when an unknown hotkey asks to join`);
    return { registry: source.registry, recheck: source.recheck, source, netuid: a.netuid, close: () => reader.close() };
  } catch (e) {
    await reader.close();
    throw e;
  }
};

/**
 * The command's body: starts the server (and its gatekeeper when secured), prints where it is,
 * hands it to `until` and stops everything once that resolves. Returns the exit code. Tests pass
 * an in-process chain as `admission.chain` and their own `until`.
 */
export const serveNats = async (plan: NatsPlan, until: (s: ServingNats) => Promise<void>): Promise<number> => {
  let roster: Roster | undefined;
  let nats: EmbeddedNats | undefined;
  let admin: NatsConnection | undefined;
  let gate: Gatekeeper | undefined;
  let follower: MetagraphFollower | undefined;
  const stop = async (): Promise<void> => {
    follower?.stop();
    await gate?.stop();
    await admin?.drain().catch(() => undefined);
    await nats?.stop();
    await roster?.close();
  };
  try {
    if (plan.admission !== undefined) roster = await openRoster(plan.admission);
  } catch (e) {
    if (e instanceof UsageError) {
      say(`swarmline nats: ${e.message}`);
      return 2;
    }
    say(`swarmline nats: ${isChainError(e) ? `${e._tag}: ${e.message}` : e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
  try {
    const port = plan.port === undefined ? {} : { port: plan.port };
    if (roster === undefined) nats = await startEmbeddedNats(port);
    else {
      await cryptoReady();
      // The gatekeeper's own login: an admin key that lives as long as this process.
      const signer = sessionKey(new Uint8Array(randomBytes(32)));
      const me: NatsUser = { nkey: nkeyOfEd25519(signer.publicKeyHex), role: "admin" };
      const server = await startEmbeddedNats({ ...port, authorization: authorizationConf([me], { joiner: true }) });
      nats = server;
      admin = await connectNats(server.url, "swarmline-gatekeeper", { authenticator: sessionAuthenticator(signer), inboxPrefix: inboxPrefix("gatekeeper") });
      const { source, netuid } = roster;
      gate = await startGatekeeper({
        nc: admin, registry: roster.registry, ...(roster.recheck === undefined ? {} : { recheck: roster.recheck }),
        fixed: [me], install: (conf) => server.setAuthorization(conf), followKicks: true,
        onKick: (run, miner) => say(`removed ${miner} from run ${run}: kicked by its orchestrator`),
        onRevoke: (m) => say(`removed ${m.hotkey} from run ${m.run}: ${source?.registry().has(m.hotkey) === true ? `may no longer join as ${m.role}` : "no longer registered"} on subnet ${netuid} at block ${source?.snapshot().block}`),
        onDecision: (a) => say(a._tag === "Admitted" ? `admitted ${a.hotkey} as ${a.role}` : `refused: ${a.refusal._tag}: ${a.refusal.detail}`),
      });
      if (source !== undefined && plan.admission?.kind === "metagraph") follower = followMetagraph(source, gate, plan.admission.everyMs);
    }
  } catch (e) {
    say(`swarmline nats: ${e instanceof Error ? e.message : String(e)}`);
    await stop();
    return 1;
  }
  const info = { url: nats.url, port: nats.port, monitorPort: nats.monitorPort, storeDir: nats.storeDir, pid: nats.pid, secure: gate !== undefined };
  if (plan.json) process.stdout.write(`${JSON.stringify(info)}\n`);
  else {
    process.stdout.write(`${nats.url}\n`);
    say(`nats-server ${nats.pid} with JetStream in ${nats.storeDir}${gate === undefined ? "" : ", secured (actors join with --secure)"}; monitor http://127.0.0.1:${nats.monitorPort}; Ctrl-C stops it`);
  }
  try {
    await until({ nats, ...(follower === undefined ? {} : { refresh: follower.refresh }) });
  } finally {
    await stop();
  }
  if (!plan.json) say("nats-server stopped");
  return 0;
};

export const registerNats = (program: Command): void => {
  program
    .command("nats")
    .description("Run a local nats-server with JetStream in a temporary directory until Ctrl-C; prints its URL")
    .option("--port <port>", "client port (default: a free one)", (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError("expected a port number 1-65535 (or omit --port for a free one)");
      return n;
    })
    .option("--secure", "per-actor permissions: each actor logs in with its certified session key as an nkey, admitted by a gatekeeper from --allow FILE or --chain URL --netuid N")
    .option("--allow <file>", "with --secure: the hotkeys that may join, one ss58 address per line, optionally followed by `validator` or `orchestrator`; re-read on every join")
    .option("--chain <url>", "with --secure, instead of --allow: a subtensor node (ws:// or wss://); the hotkeys registered on subnet --netuid may join as miners, those with a validator permit also as validators")
    .option("--netuid <n>", "with --chain: the subnet")
    .option("--orchestrator <address>", "with --chain: a hotkey (ss58) that may join as a run's orchestrator, registered or not; repeat for more", (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .option("--metagraph-every <seconds>", `with --chain: re-read the metagraph this often (default ${METAGRAPH_EVERY_S}); a deregistered member is then removed. An unknown hotkey asking to join also triggers a re-read (at most one per ${RECHECK_GAP_MS / 1000} s)`)
    .option("--cluster <n>", "run N nodes (3 to 7) clustered on loopback instead of one server; prints their comma-separated URLs (what --nats takes); a run's streams get 3 replicas")
    .option("--json", "print the server's URL, ports and directory as one JSON line")
    .addHelpText("after", [
      "",
      "Examples:",
      "  swarmline nats                                         an open server: any client may do anything",
      "  swarmline nats --cluster 3                             three clustered nodes (R3 streams): a run rides through losing one",
      "  swarmline nats --secure --allow hotkeys.txt            members are the hotkeys listed in a file",
      "  swarmline nats --secure --chain ws://127.0.0.1:9944 --netuid 3 --orchestrator 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
      "                                                         members are subnet 3's registered hotkeys; //Alice orchestrates",
    ].join("\n"))
    .action(async (f: Flags) => {
      let plan: NatsPlan;
      try {
        if (f.cluster !== undefined) {
          const size = parseClusterSize(f.cluster);
          const other = [f.port !== undefined && "--port", f.secure === true && "--secure"].find((x) => x !== false);
          if (other !== undefined) throw new UsageError({ message: `${other} is for a single server: drop it with --cluster (nodes take free ports; a cluster is open)` });
          setExit(await serveCluster(size, f.json === true, untilSignal));
          return;
        }
        plan = planNats(f);
      } catch (e) {
        say(`swarmline nats: ${e instanceof Error ? e.message : String(e)}`);
        setExit(2);
        return;
      }
      setExit(await serveNats(plan, untilSignal));
    });
};
