// The data channel's watch (a validator's reader of every activation and gradient) against a real
// nats-server: it says when it has handed over everything the stream held, so a spot check that
// misses data in its cache can wait for the reader rather than call the data missing.
import { describe, expect, it } from "vitest";
import { connectNats } from "../../../src/actors/nats/connection.js";
import { natsDataChannel } from "../../../src/actors/nats/data-channel.js";
import { withNatsServer } from "../../../src/actors/nats/testing.js";

describe("data channel watch", () => {
  it("is caught up once every stored message was handed over, and not while its reader is stopped", () => withNatsServer(async (nats) => {
    const nc = await connectNats(nats.url);
    const data = await natsDataChannel(nc, "watch-run");
    const payload = (i: number): Uint8Array => new Uint8Array(64 * 1024).fill(i);
    for (let i = 0; i < 20; i++) await data.send("act", "minerA", "minerB", `ref${i}`, `lease${i}`, payload(i));
    const seen: string[] = [];
    const watch = await data.watch((m) => { seen.push(m.ref); });
    expect(await watch.caughtUp(10_000)).toBe(true);
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => `ref${i}`));
    // Sent after the watch started: caught up again only once that one was handed over too.
    await data.send("grad", "minerB", "minerA", "late", "lease0", payload(99));
    expect(await watch.caughtUp(10_000)).toBe(true);
    expect(seen.at(-1)).toBe("late");
    await watch.stop();
    await data.send("act", "minerA", "minerB", "after-stop", "lease1", payload(7));
    expect(await watch.caughtUp(300)).toBe(false);
    expect(seen).not.toContain("after-stop");
    await nc.drain();
  }));
});
