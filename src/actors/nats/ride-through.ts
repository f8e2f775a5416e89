// How an actor rides through a NATS outage (a server restarted, a cluster electing a stream leader):
// which operations it repeats, how often, and for how long before the failure is fatal. Named once;
// the publisher (re-sends on reconnect), the writer, the data channel and the blob store use it.

/**
 * The outage an actor waits through: operations that failed for want of a server (no ack, no
 * responders, a request timed out) are repeated with backoff for up to `maxMs` since the first
 * failure. Each repeat is idempotent: a publish keeps its msgID (the stream deduplicates it), a fact
 * append keeps its event ids and its expected sequence, a blob chunk's subject takes one message.
 * A server's refusal (a JetStream API error: a conflict, a limit) is never repeated.
 */
export const RIDE_THROUGH = { maxMs: 120_000, backoffMs: [100, 200, 400, 800, 1600, 2000] } as const;

const pause = (attempt: number): number => RIDE_THROUGH.backoffMs[Math.min(attempt, RIDE_THROUGH.backoffMs.length - 1)] as number;

/** Runs `f`, repeating it while it fails with a `transient` error, within RIDE_THROUGH's time. */
export const ridingThrough = async <A>(f: () => Promise<A>, transient: (e: unknown) => boolean, maxMs: number = RIDE_THROUGH.maxMs): Promise<A> => {
  let since: number | undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      return await f();
    } catch (e) {
      since ??= performance.now();
      if (!transient(e) || performance.now() - since >= maxMs) throw e;
      await new Promise((r) => setTimeout(r, pause(attempt)));
    }
  }
};

/**
 * How long a consumer's pull request lives (`expires`). A pull request waits on the consumer's
 * leader; when that node dies while this client stays connected to another, nothing tells the
 * client, and it pulls again only after two missed idle heartbeats (expires / 2 each); after a
 * reconnect, a consumer whose info request failed (JetStream still loading) retries after a jittered
 * wait of up to `expires`. The client's default of 30 s stalled a run ~30 s after a cluster leader
 * change, and left a miner's feed silent long enough after a restart for the orchestrator to time it
 * out; 2 s resumes within ~2 s (from the consumer's last acknowledged message: unacknowledged ones
 * are redelivered), at the cost of one empty pull per 2 s per idle consumer.
 */
export const PULL_EXPIRES_MS = 2_000;
