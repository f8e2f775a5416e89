// The dashboard page in a real browser (Debian's chromium driven by playwright-core): it loads a
// log and draws its loss curve, the time slider re-folds the state at an earlier fact, and in live
// mode it receives the facts of a sim running on NATS as they are appended. Set
// SWARMLINE_SCREENSHOT=docs/dashboard.png to save the page for the README.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDashboard } from "../../../src/actors/dashboard/server.js";
import { fileSource, natsSource } from "../../../src/actors/dashboard/sources.js";
import { connectNats } from "../../../src/actors/nats/connection.js";
import { listRuns } from "../../../src/actors/nats/runs.js";
import { type EmbeddedNats, startEmbeddedNats } from "../../../src/actors/nats/testing.js";
import { main } from "../../../src/cli/main.js";
import { captureOutput } from "../../cli/capture.js";

const GOLDEN = new URL("../../fixtures/golden-scored.jsonl", import.meta.url).pathname;
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/** Long enough that the page loads while the sim still runs, even on a loaded machine (16 steps could finish first). */
const LIVE_STEPS = 48;
const TINY = ["--stages", "3", "--layers", "3", "--d-model", "32", "--heads", "2", "--seq", "16", "--batch", "4", "--bottleneck", "4", "--quant", "int8", "--eval-every", "20"];

let browser: Browser;
beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: install Debian's chromium (apt-get install chromium; .ci/run does) or set CHROMIUM_PATH`);
  // Root in a container has no user namespace for chromium's sandbox.
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
}, 60_000);
afterAll(async () => {
  await browser?.close();
});

type Page = Awaited<ReturnType<Browser["newPage"]>>;
const text = (page: Page, id: string) => page.locator(`#${id}`).innerText();

/** Polls the element's text until `ok` holds (a page that updates itself), failing with what it last showed. */
const until = async (page: Page, id: string, ok: (text: string) => boolean, ms = 20_000): Promise<string> => {
  let last = "";
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
    last = await text(page, id);
    if (ok(last)) return last;
  }
  throw new Error(`#${id} still shows ${JSON.stringify(last)} after ${ms} ms`);
};

describe("swarmline dashboard in Chromium", () => {
  const io = captureOutput();

  it("draws a log's loss curve, and its time slider shows the state at an earlier fact", async () => {
    const dash = await startDashboard({ source: fileSource(GOLDEN), port: 0 });
    const page = await browser.newPage({ viewport: { width: 1400, height: 1300 } });
    try {
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(dash.url);
      // The golden run completes 60 microbatches: one point each.
      await page.locator('#loss-chart[data-points="60"]').waitFor({ timeout: 20_000 });
      expect(await text(page, "facts")).toBe(String(dash.facts()));
      expect(await text(page, "completed")).toBe("60");
      expect(await page.locator("#loss-chart canvas").count()).toBeGreaterThan(0);
      // The pipeline shows every miner that was assigned a stage, and the scores table every scored miner.
      expect(await page.locator("#pipeline g.miner").count()).toBeGreaterThanOrEqual(6);
      expect(await page.locator("#scores tr[data-miner]").count()).toBeGreaterThan(0);
      await until(page, "state-completed", (t) => t === "60");
      if (process.env.SWARMLINE_SCREENSHOT !== undefined) await page.screenshot({ path: process.env.SWARMLINE_SCREENSHOT, fullPage: true });
      // Back to stream sequence 500: the orchestrator's fold there has fewer completed microbatches.
      await page.locator("#follow").uncheck();
      await page.locator("#slider").fill("500");
      await until(page, "state-seq", (t) => t === "500");
      const earlier = Number(await text(page, "state-completed"));
      expect(earlier).toBeGreaterThan(0);
      expect(earlier).toBeLessThan(60);
      // What the page shows is the server's fold at that point, worker machines included.
      const state = (await (await fetch(`${dash.url}api/state?at=500`)).json()) as { orchestrator: { counters: { completed: number } }; workers: Record<string, { reconstructed: boolean; state: unknown }> };
      expect(earlier).toBe(state.orchestrator.counters.completed);
      const workers = Object.values(state.workers);
      expect(workers.length).toBeGreaterThanOrEqual(6);
      expect(await page.locator("#state-workers [data-state]").count()).toBe(workers.filter((w) => w.reconstructed).length);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
      await dash.close();
    }
  }, 60_000);

  it("follows a sim running on NATS live: new facts reach the page as they are appended", async () => {
    const nats: EmbeddedNats = await startEmbeddedNats();
    const nc = await connectNats(nats.url);
    const page = await browser.newPage();
    let dash: Awaited<ReturnType<typeof startDashboard>> | undefined;
    try {
      const sim = main(["node", "swarmline", "sim", "--nats", nats.url, ...TINY, "--miners", "3", "--steps", String(LIVE_STEPS), "--merge-every", "4"]);
      let runs: string[] = [];
      for (let i = 0; i < 200 && runs.length === 0; i++) {
        runs = await listRuns(nc);
        if (runs.length === 0) await new Promise((r) => setTimeout(r, 50));
      }
      expect(runs).toHaveLength(1);
      dash = await startDashboard({ source: await natsSource(nats.url, runs[0] as string), port: 0 });
      await page.goto(dash.url);
      await page.locator("#facts").waitFor();
      const first = Number(await text(page, "facts"));
      expect(await sim, io.err).toBe(0);
      // Every fact of the run reaches the page, the last ones over the event stream. The dashboard may
      // still be reading the stream when the sim exits: wait for the run's end on the page (checking
      // the counts at one instant while the server is still catching up raced, once in CI).
      const served = dash;
      await until(page, "completed", (t) => t === String(LIVE_STEPS));
      await until(page, "facts", (t) => Number(t) === served.facts() && served.facts() > first);
      expect(await text(page, "status")).toContain("live");
    } finally {
      await page.close();
      await dash?.close();
      await nc.drain();
      await nats.stop();
    }
  }, 120_000);

  it("serves the folded state as JSON and refuses a point past the end, naming the last sequence", async () => {
    const dash = await startDashboard({ source: fileSource(GOLDEN), port: 0 });
    try {
      const past = await fetch(`${dash.url}api/state?at=999999`);
      expect(past.status).toBe(400);
      expect(((await past.json()) as { error: string }).error).toMatch(/past the end of the log \(last sequence \d+\)/);
      const bad = await fetch(`${dash.url}api/state?at=x`);
      expect(bad.status).toBe(400);
      const view = (await (await fetch(`${dash.url}api/view`)).json()) as { run: { run: string }; facts: number; done: boolean };
      expect(view).toMatchObject({ run: { run: "golden-scored" }, done: true });
      expect(view.facts).toBe(dash.facts());
      expect((await fetch(`${dash.url}vendor/uPlot.iife.min.js`)).status).toBe(200);
    } finally {
      await dash.close();
    }
  });

  it("refuses an unreadable log and an unknown run with exit 2 and a message that names the fix", async () => {
    const junk = join(tmpdir(), `swl-dash-junk-${process.pid}.jsonl`);
    writeFileSync(junk, "not a log\n");
    expect(await main(["node", "swarmline", "dashboard", "--log", junk, "--port", "0"])).toBe(2);
    expect(io.err).toMatch(/is not a swarmline log/);
    expect(await main(["node", "swarmline", "dashboard", "--log", "/nonexistent/run.jsonl", "--port", "0"])).toBe(2);
    expect(io.err).toMatch(/cannot read \/nonexistent\/run\.jsonl/);
    const nats = await startEmbeddedNats();
    try {
      expect(await main(["node", "swarmline", "dashboard", "--nats", nats.url, "--run", "nope", "--port", "0"])).toBe(2);
      expect(io.err).toMatch(/no run nope/);
    } finally {
      await nats.stop();
    }
    expect(await main(["node", "swarmline", "dashboard", "--port", "0"])).toBe(2);
    expect(readFileSync(GOLDEN, "utf8").length).toBeGreaterThan(0);
  });
});
