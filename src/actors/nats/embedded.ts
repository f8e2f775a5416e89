// The embedded NATS server: a child `nats-server` with JetStream in a fresh temporary directory,
// on free loopback ports, configured from infra/nats/dev.conf. Stopped (and its directory
// removed) on stop(), scope close, or the parent's exit, SIGINT or SIGTERM.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Effect, Schema } from "effect";

/** infra/nats/dev.conf: the single source of the dev server's settings (payload, limits). */
export const DEV_CONF = fileURLToPath(new URL("../../../infra/nats/dev.conf", import.meta.url));

/** `nats-server` is not on PATH. */
export class NatsServerMissing extends Schema.TaggedError<NatsServerMissing>()("NatsServerMissing", {
  message: Schema.String,
}) {}

/** `nats-server` was found but did not become healthy. */
export class NatsServerFailed extends Schema.TaggedError<NatsServerFailed>()("NatsServerFailed", {
  message: Schema.String,
}) {}

export interface EmbeddedNatsOptions {
  /** Client port; default a free one (never 4222). */
  readonly port?: number;
  /** Extra nats-server arguments (tests use `-DV` to debug). */
  readonly args?: readonly string[];
  /** How long to wait for /healthz, ms (default 15,000). */
  readonly readyTimeoutMs?: number;
  /** Keep stdout/stderr of the server (default: discarded, except on a failed start). */
  readonly inheritOutput?: boolean;
  /**
   * An `authorization { ... }` block (permissions.ts authorizationConf): written to auth.conf beside
   * the server's config and included by it, so `setAuthorization` can rewrite it and reload.
   */
  readonly authorization?: string;
  /** The server's name (default `swarmline-embedded-PORT`). */
  readonly serverName?: string;
  /** Joins a cluster: its name, this node's route port on loopback, and every node's route port. */
  readonly cluster?: { readonly name: string; readonly port: number; readonly routes: readonly number[] };
  /**
   * Cores the server's Go runtime may run on at once (its GOMAXPROCS); default embeddedMaxProcs():
   * half the machine's, at least 1, or the GOMAXPROCS of this process's environment when set.
   */
  readonly maxProcs?: number;
}

/**
 * An embedded server shares its machine with the swarm it serves (the sim's miners, their kernel
 * workers): it gets half the cores, at least one. With every core (Go's default) its idle
 * processors spin looking for work between bursts, CPU the miners' kernels then lack: on 2 cores
 * a sim's server used ~20% less CPU per token with 1 (docs/BENCHMARKS.md "swarm"). GOMAXPROCS in
 * this process's environment wins, as it would for a server started by hand.
 */
export const embeddedMaxProcs = (): number => {
  const env = Number(process.env.GOMAXPROCS);
  return Number.isInteger(env) && env >= 1 ? env : Math.max(1, Math.floor(availableParallelism() / 2));
};

/** A running embedded server. `stop()` is idempotent and resolves once the process is gone. */
export interface EmbeddedNats {
  /** `nats://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  readonly monitorPort: number;
  /** The JetStream store directory (removed on stop). */
  readonly storeDir: string;
  readonly pid: number;
  /** Rewrites auth.conf and reloads the server (SIGHUP): connected clients stay connected. Only with `authorization`. */
  setAuthorization(block: string): void;
  /** SIGKILLs the server (a crash: no clean shutdown), keeping its store; resolves once it is gone. */
  kill(): Promise<void>;
  /** Starts the server again on the same ports and store (after `kill`); resolves once it is healthy. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const INSTALL_HINT =
  "nats-server is not on PATH. Install it (Debian/Ubuntu: `sudo apt-get install nats-server`; " +
  "others: https://docs.nats.io/running-a-nats-service/introduction/installation), " +
  "or point Swarmline at a running server with --nats URL.";

/** True when `nats-server` can be executed. */
export const natsServerAvailable = (): boolean => {
  const r = spawnSync("nats-server", ["--version"], { stdio: "ignore" });
  return r.error === undefined && r.status === 0;
};

// The ports this process has handed out: the OS may offer a released port again before the server
// it was chosen for has bound it (the three route ports of a cluster are chosen before any node starts).
const handedOut = new Set<number>();

/** A free TCP port on 127.0.0.1, chosen by the OS (so never a fixed one like 4222), and never one this process was handed already. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr !== null ? addr.port : 0;
      srv.close(() => {
        if (port === 4222 || handedOut.has(port)) return void freePort().then(resolve, reject);
        handedOut.add(port);
        resolve(port);
      });
    });
  });

/**
 * True when a server failed because one of its ports was taken between its choice and the bind (by
 * another process, or by an outgoing connection's ephemeral port): starting again on fresh ports helps.
 */
export const portTaken = (e: unknown): boolean => e instanceof NatsServerFailed && e.message.includes("address already in use");

/** How many times a start on chosen free ports is tried when one of them was taken meanwhile. */
const PORT_ATTEMPTS = 4;

/** Runs `start` (which chooses its own free ports) again, up to PORT_ATTEMPTS times, while it fails with a port taken. */
export const onFreshPorts = async <A>(start: () => Promise<A>): Promise<A> => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (e) {
      if (attempt >= PORT_ATTEMPTS || !portTaken(e)) throw e;
    }
  }
};

// Every live server, so that the parent's exit or a signal can stop them all.
const live = new Set<LiveServer>();
let hooked = false;

const killSync = (s: LiveServer): void => {
  if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill("SIGKILL");
  rmSync(s.dir, { recursive: true, force: true });
  live.delete(s);
};

const hookExit = (): void => {
  if (hooked) return;
  hooked = true;
  process.on("exit", () => {
    for (const s of [...live]) killSync(s);
  });
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    // When nobody else handles the signal, stop the servers and keep the default behaviour
    // (die by the signal). When someone does (the `swarmline nats` command), they stop the
    // servers cleanly themselves, and the exit hook catches anything left behind.
    const onSignal = (): void => {
      if (process.listenerCount(sig) > 1) return;
      for (const s of [...live]) killSync(s);
      process.removeListener(sig, onSignal);
      process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
};

/**
 * dev.conf with its JetStream store_dir replaced (nats-server refuses `-sd` next to a config
 * that sets store_dir): every other setting, max_payload included, comes from the file.
 */
export const devConfWithStore = (storeDir: string): string => {
  const text = readFileSync(DEV_CONF, "utf8");
  const out = text.replace(/^(\s*store_dir\s*:\s*).*$/m, (_m, head: string) => `${head}${JSON.stringify(storeDir)}`);
  if (out === text) throw new Error(`${DEV_CONF} has no jetstream store_dir line to override`);
  return out;
};

/** A `cluster {}` block as infra/nats/cluster/n1.conf has it, on the given loopback ports. */
const clusterBlock = (c: NonNullable<EmbeddedNatsOptions["cluster"]>): string =>
  `\ncluster {\n  name: ${c.name}\n  listen: 127.0.0.1:${c.port}\n  routes: [\n${c.routes.map((r) => `    nats-route://127.0.0.1:${r}\n`).join("")}  ]\n}\n`;

const healthy = async (monitorPort: number): Promise<boolean> => {
  try {
    const r = await fetch(`http://127.0.0.1:${monitorPort}/healthz`);
    return r.ok;
  } catch {
    return false;
  }
};

/**
 * Starts `nats-server -c infra/nats/dev.conf` on free loopback ports with JetStream in a fresh
 * temporary directory, and resolves once `/healthz` answers. Rejects with NatsServerMissing when
 * nats-server is not installed, NatsServerFailed when it exits or does not become healthy.
 */
export const startEmbeddedNats = async (options: EmbeddedNatsOptions = {}): Promise<EmbeddedNats> => {
  if (!natsServerAvailable()) throw new NatsServerMissing({ message: INSTALL_HINT });
  // A given port, or a cluster node's route port, is the caller's (the cluster retries on fresh ports itself).
  const ownPorts = options.port === undefined && options.cluster === undefined;
  return ownPorts ? onFreshPorts(() => startOnce(options)) : startOnce(options);
};

const startOnce = async (options: EmbeddedNatsOptions): Promise<EmbeddedNats> => {
  const port = options.port ?? (await freePort());
  const monitorPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "swarmline-nats-"));
  const conf = join(dir, "nats.conf");
  const auth = join(dir, "auth.conf");
  if (options.authorization !== undefined) writeFileSync(auth, options.authorization);
  // The server name goes in the file: a reload compares it with the file's and refuses a change.
  const text = devConfWithStore(join(dir, "js")).replace(/^server_name:.*$/m, `server_name: ${options.serverName ?? `swarmline-embedded-${port}`}`);
  writeFileSync(conf, text + (options.authorization === undefined ? "" : `\ninclude "auth.conf"\n`) + (options.cluster === undefined ? "" : clusterBlock(options.cluster)));
  const args = [
    "-c", conf,
    // Command-line flags take precedence over the file's listen/http addresses.
    "-a", "127.0.0.1", "-p", String(port), "-m", String(monitorPort),
    ...(options.args ?? []),
  ];
  const entry = { child: launchChild(args, options), dir };
  live.add(entry);
  hookExit();
  await untilHealthy(entry, monitorPort, port, options.readyTimeoutMs ?? 15_000);

  let stopping: Promise<void> | undefined;
  const kill = async (): Promise<void> => {
    const { child } = entry;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGKILL");
    await gone;
  };
  const restart = async (): Promise<void> => {
    if (stopping !== undefined) throw new Error("the server was stopped: nothing to restart");
    await kill();
    entry.child = launchChild(args, options);
    await untilHealthy(entry, monitorPort, port, options.readyTimeoutMs ?? 15_000);
  };
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const { child } = entry;
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
      live.delete(entry);
    })();
    return stopping;
  };
  const setAuthorization = (block: string): void => {
    if (options.authorization === undefined) throw new Error("this server was started without authorization: nothing to reload");
    writeFileSync(auth, block);
    entry.child.kill("SIGHUP");
  };
  return { url: `nats://127.0.0.1:${port}`, port, monitorPort, storeDir: join(dir, "js"), get pid() { return entry.child.pid ?? -1; }, setAuthorization, kill, restart, stop };
};

/** A live server process: its child (replaced on a restart) and the directory it owns. */
interface LiveServer { child: ChildProcess; readonly dir: string }

const stderrTails = new WeakMap<ChildProcess, () => string>();

const launchChild = (args: readonly string[], options: EmbeddedNatsOptions): ChildProcess => {
  const env = { ...process.env, GOMAXPROCS: String(options.maxProcs ?? embeddedMaxProcs()) };
  const child = spawn("nats-server", args, { env, stdio: options.inheritOutput === true ? "inherit" : ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-4000);
  });
  stderrTails.set(child, () => stderr);
  return child;
};

/** Waits for /healthz; on an exit or the deadline, kills the server, removes its directory and throws NatsServerFailed. */
const untilHealthy = async (entry: LiveServer, monitorPort: number, port: number, timeoutMs: number): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  const { child } = entry;
  const tail = (): string => stderrTails.get(child)?.() ?? "";
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      killSync(entry);
      throw new NatsServerFailed({ message: `nats-server exited (${child.exitCode ?? child.signalCode}) before it was healthy:\n${tail()}` });
    }
    if (await healthy(monitorPort)) return;
    if (Date.now() > deadline) {
      killSync(entry);
      throw new NatsServerFailed({ message: `nats-server did not become healthy on port ${port}:\n${tail()}` });
    }
    await new Promise((r) => setTimeout(r, 25));
  }
};

/** The embedded server as a scoped Effect resource: stopped when the scope closes. */
export const embeddedNats = (options: EmbeddedNatsOptions = {}) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => startEmbeddedNats(options),
      catch: (e) => (e instanceof NatsServerMissing || e instanceof NatsServerFailed ? e : new NatsServerFailed({ message: String(e) })),
    }),
    (s) => Effect.promise(() => s.stop()),
  );
