// The CPU a sim used while it trained: this process's (its kernel workers and V8's threads
// included) and its own nats-server processes'. On a machine shared by every part of the swarm,
// core-seconds per token move less from run to run than tokens per second, and they say where the
// time went: user or kernel (page faults, syscalls), the sim or the server.
import { readFileSync } from "node:fs";

/** CPU seconds over a measured span, and the cores that is on average. */
export interface CpuUse {
  readonly userSeconds: number;
  readonly systemSeconds: number;
  /** The other processes' (user + system), e.g. the sim's embedded nats-servers; null when none was measured. */
  readonly childSeconds: number | null;
  readonly wallSeconds: number;
  /** (user + system + child) ÷ wall. */
  readonly cores: number;
}

/** Clock ticks per second of /proc/PID/stat's times: USER_HZ, 100 on every Linux ABI. */
const USER_HZ = 100;

/** A process's user + system CPU seconds from /proc, or undefined where it cannot be read (not Linux, gone). */
export const processSeconds = (pid: number): number | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces, inside parentheses): state is the 3rd
    // field of the line, utime the 14th, stime the 15th.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const t = Number(f[11]) + Number(f[12]);
    return Number.isFinite(t) ? t / USER_HZ : undefined;
  } catch {
    return undefined;
  }
};

/**
 * Starts measuring this process and the processes `pids()` names (asked at the start and at the
 * end: a process restarted in between is counted from its new start). `stop` returns the use since.
 */
export const cpuMeter = (pids: () => readonly number[] = () => []): { stop(): CpuUse } => {
  const others = (): Map<number, number> => new Map(pids().flatMap((p) => { const s = processSeconds(p); return s === undefined ? [] : [[p, s] as const]; }));
  const t0 = performance.now();
  const u0 = process.cpuUsage();
  const c0 = others();
  return {
    stop: () => {
      const u = process.cpuUsage(u0);
      const c1 = others();
      const child = c1.size === 0 ? null : [...c1].reduce((n, [p, s]) => n + s - (c0.get(p) ?? 0), 0);
      const wallSeconds = (performance.now() - t0) / 1000;
      const userSeconds = u.user / 1e6;
      const systemSeconds = u.system / 1e6;
      const total = userSeconds + systemSeconds + (child ?? 0);
      return { userSeconds, systemSeconds, childSeconds: child, wallSeconds, cores: wallSeconds > 0 ? total / wallSeconds : 0 };
    },
  };
};
