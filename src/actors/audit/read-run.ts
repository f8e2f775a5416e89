// The auditor's reading of a live run: its facts stream on NATS exported as JSONL lines, the bytes
// `swarmline log export` writes, so a run on a server and an exported file are audited alike.
import { Effect, Result } from "effect";
import { NatsUnavailable } from "../eventlog/errors.js";
import { natsConnection, type NatsConnection } from "../nats/connection.js";
import { exportFromNats } from "../nats/export.js";

/** Why a run could not be read: the message names the cause and, for an unreachable server, the fix. */
export class RunUnreadable extends Error {
  readonly _tag = "RunUnreadable";
}

/**
 * The run's log as lines (header first), read once as it stands; fails with RunUnreadable when
 * the server cannot be reached or the stream cannot be read. Over `nc` when given (a member's
 * login on a secured server, a connection the caller goes on using), else over a connection of
 * its own to `url`.
 */
export const readRunLines = async (url: string, run: string, nc?: NatsConnection): Promise<string[]> => {
  const lines: string[] = [];
  const read = (c: NatsConnection) => exportFromNats(c, run, (ls) => { lines.push(...ls); });
  const program = nc === undefined ? Effect.scoped(Effect.flatMap(natsConnection(url, `swarmline-audit-${run}`), read)) : read(nc);
  const r = await Effect.runPromise(Effect.result(program));
  if (Result.isSuccess(r)) return lines;
  const e: unknown = r.failure;
  const tag = typeof e === "object" && e !== null && "_tag" in e ? `${String(e._tag)}: ` : "";
  const fix = e instanceof NatsUnavailable ? "\n  is a nats-server with JetStream running there? check the --nats URL (`swarmline nats` starts one and prints it)" : "";
  throw new RunUnreadable(`${tag}${e instanceof Error ? e.message : String(e)}${fix}`);
};
