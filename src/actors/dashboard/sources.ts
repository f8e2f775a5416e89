// Where the dashboard reads a run: an exported JSONL log (read once), or a run on NATS followed
// live through the run feed (the same verified, ingest-gated reading the hosts use).
import { readFileSync } from "node:fs";
import { Result } from "effect";
import { decodeFact } from "../../events/facts.js";
import { parseLogLines, splitLines } from "../../events/jsonl.js";
import { connectNats, type NatsConnection } from "../nats/connection.js";
import { listRuns } from "../nats/runs.js";
import { type RunFeed, startRunFeed } from "../swarm/feed.js";
import type { DashboardSource } from "./server.js";

/** A source that cannot be read: the message names the problem and the fix. */
export class SourceUnreadable extends Error {
  readonly _tag = "SourceUnreadable";
}

/** An exported log: every fact at once, then nothing new. Refused lines and payloads are counted, not shown. */
export const fileSource = (file: string): DashboardSource & { readonly refused: () => number } => {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new SourceUnreadable(`cannot read ${file}: ${e instanceof Error ? e.message : String(e)} (check the --log path)`);
  }
  const parsed = parseLogLines(splitLines(text));
  if (Result.isFailure(parsed)) throw new SourceUnreadable(`${file} is not a swarmline log: line ${parsed.failure.line}: ${parsed.failure.detail} (export one with \`swarmline log export\` or \`sim --log\`)`);
  const { entries, refused } = parsed.success;
  let dropped = refused.length;
  return {
    live: false,
    describe: `${file} (run ${parsed.success.header.run})`,
    refused: () => dropped,
    start: async (onFact) => {
      for (const e of entries) {
        const d = decodeFact(e.event);
        if (d === undefined) continue;
        if ("refused" in d) dropped += 1;
        else onFact(e.seq, d.fact, e.event);
      }
    },
    stop: async () => undefined,
  };
};

/** A run on NATS: the facts so far, then each new one as it is appended. */
export const natsSource = async (url: string, run: string): Promise<DashboardSource> => {
  const nc: NatsConnection = await connectNats(url, `swarmline-dashboard-${run}`).catch((e: unknown) => {
    throw new SourceUnreadable(`${e instanceof Error ? e.message : String(e)} (is a nats-server running there? check --nats)`);
  });
  const runs = await listRuns(nc);
  if (!runs.includes(run)) {
    await nc.close();
    throw new SourceUnreadable(`no run ${run} on ${url}${runs.length === 0 ? " (it has no runs)" : ` (runs there: ${runs.join(", ")})`}: check --run`);
  }
  let feed: RunFeed | undefined;
  return {
    live: true,
    describe: `run ${run} on ${url}`,
    start: async (onFact) => {
      feed = await startRunFeed(nc, run, undefined, ({ fact, envelope, streamSeq }) => onFact(streamSeq, fact, envelope));
    },
    stop: async () => {
      await feed?.stop().catch(() => undefined);
      await nc.drain().catch(() => nc.close());
    },
  };
};
