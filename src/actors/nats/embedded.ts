// The embedded NATS server: a child `nats-server` with JetStream in a fresh temporary directory,
// on free loopback ports, configured from infra/nats/dev.conf. Stopped (and its directory
// removed) on stop(), scope close, or the parent's exit, SIGINT or SIGTERM.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
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
}

/** A running embedded server. `stop()` is idempotent and resolves once the process is gone. */
export interface EmbeddedNats {
  /** `nats://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  readonly monitorPort: number;
  /** The JetStream store directory (removed on stop). */
  readonly storeDir: string;
  readonly pid: number;
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

/** A free TCP port on 127.0.0.1, chosen by the OS (so never a fixed one like 4222). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr !== null ? addr.port : 0;
      srv.close(() => (port === 4222 ? freePort().then(resolve, reject) : resolve(port)));
    });
  });

// Every live server, so that the parent's exit or a signal can stop them all.
const live = new Set<{ child: ChildProcess; dir: string }>();
let hooked = false;

const killSync = (s: { child: ChildProcess; dir: string }): void => {
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
  const port = options.port ?? (await freePort());
  const monitorPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "swarmline-nats-"));
  const conf = join(dir, "nats.conf");
  writeFileSync(conf, devConfWithStore(join(dir, "js")));
  const args = [
    "-c", conf,
    // Command-line flags take precedence over the file's listen/http addresses.
    "-a", "127.0.0.1", "-p", String(port), "-m", String(monitorPort),
    "--server_name", `swarmline-embedded-${port}`,
    ...(options.args ?? []),
  ];
  const child = spawn("nats-server", args, { stdio: options.inheritOutput === true ? "inherit" : ["ignore", "ignore", "pipe"] });
  const entry = { child, dir };
  live.add(entry);
  hookExit();
  let stderr = "";
  child.stderr?.on("data", (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));

  const deadline = Date.now() + (options.readyTimeoutMs ?? 15_000);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      killSync(entry);
      throw new NatsServerFailed({ message: `nats-server exited (${child.exitCode ?? child.signalCode}) before it was healthy:\n${stderr}` });
    }
    if (await healthy(monitorPort)) break;
    if (Date.now() > deadline) {
      killSync(entry);
      throw new NatsServerFailed({ message: `nats-server did not become healthy on port ${port}:\n${stderr}` });
    }
    await new Promise((r) => setTimeout(r, 25));
  }

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
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
  return { url: `nats://127.0.0.1:${port}`, port, monitorPort, storeDir: join(dir, "js"), pid: child.pid ?? -1, stop };
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
