// `swarmline replay`'s human output: a run snapshot as a few compact tables (stages, miners,
// leases, merges, workers, scores), and a diff as one line per change. Ids are shortened the way
// `audit` prints them: hotkeys to their first 8 characters, lease and merge ids without the run.
import type { Change, RunSnapshot, SnapshotDiff, StateValue, WorkerSnapshot } from "../machines/replay/index.js";

/** Shortens an id for a table cell. */
const shortener = (run: string) => (id: string | null | undefined): string => {
  if (id === null || id === undefined) return "-";
  if (id.startsWith(`${run}:`)) return id.slice(run.length + 1);
  return id.length > 12 ? `${id.slice(0, 8)}…` : id;
};

/** Columns padded to their widest cell; `right` columns are right-aligned (numbers). */
const table = (head: readonly string[], rows: readonly (readonly string[])[], right: readonly number[] = []): string[] => {
  const width = head.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? "").length)));
  const fmt = (r: readonly string[]): string =>
    r.map((x, c) => (right.includes(c) ? x.padStart(width[c] as number) : x.padEnd(width[c] as number))).join("  ").trimEnd();
  return [fmt(head), ...rows.map(fmt)].map((l) => `    ${l}`);
};

const stateText = (v: StateValue): string =>
  typeof v === "string" ? v : Object.entries(v).map(([k, sub]) => `${k}.${stateText(sub)}`).join(",");

const counts = (r: Readonly<Record<string, number>>): string => {
  const xs = Object.entries(r).map(([k, n]) => `${k}×${n}`);
  return xs.length === 0 ? "-" : xs.join(" ");
};

const workerRows = (s: RunSnapshot, short: (id: string | null | undefined) => string): { rows: string[][]; notes: string[] } => {
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const w of Object.values(s.workers) as WorkerSnapshot[]) {
    if (!w.reconstructed) {
      notes.push(`    ${short(w.miner)}: not rebuilt: ${w.reason}`);
      continue;
    }
    rows.push([
      short(w.miner), stateText(w.state), w.stage === null ? "-" : String(w.stage), String(w.steps), w.optimizerSteps === null ? "?" : String(w.optimizerSteps),
      short(w.merge), String(w.pending), String(w.held), String(w.awaiting.length), String(w.accumulated.length), counts(w.requested),
      `${w.logged}/${w.published}`, w.lastFact === null ? "-" : `${w.lastFact.seq} ${w.lastFact.type} @${w.lastFact.step}`,
    ]);
    const un = counts(w.divergence.unmatched), sk = counts(w.divergence.skipped), ul = counts(w.unlogged);
    if (un !== "-") notes.push(`    ${short(w.miner)}: own facts its rebuilt machine had not decided when the log shows them (taken as logged): ${un}`);
    if (sk !== "-") notes.push(`    ${short(w.miner)}: decisions of its rebuilt machine the log passed over: ${sk}`);
    if (ul !== "-") notes.push(`    ${short(w.miner)}: decided, not in the log by this point: ${ul}`);
    if (w.sessions > 1) notes.push(`    ${short(w.miner)}: session ${w.session}, its ${w.sessions}th (joined again at seq ${w.joinedAt})`);
  }
  return { rows, notes };
};

/** The snapshot as text: where it stands, then the orchestrator, the workers and the scores. */
export const snapshotText = (s: RunSnapshot): string => {
  const short = shortener(s.run);
  const p = s.position;
  const out: string[] = [];
  const last = p.last === null ? "nothing folded yet" : `last ${p.last.type} by ${short(p.last.actor)}`;
  out.push(`run ${s.run} at seq ${p.seq} (entry ${p.entries} of ${p.total}, ${p.facts} facts, step ${p.step}): ${last}`);
  const o = s.orchestrator;
  if (o === null) out.push("orchestrator: the run has not started (no SwarmRunStarted yet)");
  else {
    const c = o.counters;
    out.push(`orchestrator ${short(o.id)}: tick ${o.tick}${o.done ? ", run completed" : ""}; microbatches ${c.completed} completed of ${c.issued} leased, ${c.reissued} reissued, ${c.tokens} tokens; merges ${c.mergesDone} done (${c.partitionsAccepted} partitions accepted, ${c.partitionsSkipped} skipped, ${c.disputes} disputes); ${c.kicked} kicked, ${c.timedOut} timed out`);
    out.push("  stages");
    out.push(...table(["stage", "phase", "epoch", "since merge", "merge", "weights", "miners"],
      o.stages.map((st) => [String(st.stage), st.phase, String(st.epoch), String(st.sinceMerge), short(st.merge), `${st.weights.slice(0, 8)}… @${st.weightsEpoch}`, st.miners.map(short).join(", ") || "-"]), [0, 2, 3]));
    const miners = Object.entries(o.miners);
    out.push(`  miners (${miners.length})`);
    if (miners.length > 0)
      out.push(...table(["miner", "status", "stage", "queue", "samples", "flagged", "last seen"],
        miners.map(([id, m]) => [short(id), m.status, m.stage === null ? "-" : String(m.stage), String(m.queue), String(m.samples), m.flagged ? "yes" : "-", String(m.lastSeen)]), [2, 3, 4, 6]));
    const leases = Object.entries(o.leases);
    out.push(`  leases (${leases.length} open)`);
    if (leases.length > 0)
      out.push(...table(["lease", "microbatch", "batch", "attempt", "expires", "pathway", "loss", "backward"],
        leases.map(([id, l]) => [short(id), String(l.microbatch), String(l.batch), String(l.attempt), String(l.expires), l.pathway.map(short).join(" > "),
          l.loss === null ? "-" : l.loss.toFixed(4), l.backward.map((b) => (b ? "+" : "·")).join("")]), [1, 2, 3, 4]));
    out.push(`  retry queue: ${o.retry.length === 0 ? "-" : o.retry.map((r) => `microbatch ${r.microbatch} (batch ${r.batch}, attempt ${r.attempt})`).join(", ")}`);
    for (const [id, g] of Object.entries(o.merges)) {
      out.push(`  merge ${short(id)}: stage ${g.stage}, epoch ${g.epoch}; participants ${g.participants.map((q) => `${short(q.miner)} (${q.samples})`).join(", ")}; sent ${g.sent.length} of ${g.participants.length}; ${g.sealed === null ? "not sealed" : `sealed over ${g.sealed.length}`}; gather by tick ${g.gatherDeadline}, deadline ${g.deadline}`);
      out.push(...table(["partition", "status", "reducers", "claims", "replaced", "dispute"],
        g.partitions.map((q, i) => [String(i), q.status === "accepted" ? `accepted ${(q.hash ?? "").slice(0, 8)}…` : "open", q.reducers.map(short).join(", "),
          Object.entries(q.claims).map(([r, h]) => `${short(r)}=${h.slice(0, 8)}…`).join(" ") || "-", q.replaced.map(short).join(", ") || "-",
          q.disputed ? (q.settled ? "settled" : "open") : "-"]), [0]));
    }
  }
  const { rows, notes } = workerRows(s, short);
  out.push(`workers (${Object.keys(s.workers).length}: each miner's stage-worker machine, rebuilt from the facts its host fed it)`);
  if (rows.length > 0)
    out.push(...table(["miner", "state", "stage", "steps", "opt", "merge", "pending", "held", "awaiting", "accum", "requested", "logged/pub", "last fact @step"], rows, [2, 3, 4, 6, 7, 8, 9]));
  out.push(...notes);
  for (const v of Object.values(s.scores)) {
    const w = v.windows[v.windows.length - 1];
    const where = w === undefined ? "no window yet" : `window ${w.index} ${w.closed ? "closed" : "open"} (${w.samples} microbatches${w.checks === null ? "" : `, ${w.checks} checks drawn, ${w.passed} passed, ${w.failed} failed`}${w.scored ? ", scored" : ""})`;
    out.push(`scores of validator ${short(v.validator)}: ${v.completed} microbatches counted, windows of ${v.window}; latest ${where}`);
    if (v.contributions.length > 0)
      out.push(...table(["window", "miner", "stage", "contribution [lo, hi]", "samples"],
        v.contributions.map((c) => [String(c.window), short(c.miner), String(c.stage), `${c.contribution.toFixed(4)} [${c.lo.toFixed(4)}, ${c.hi.toFixed(4)}]`, String(c.samples)]), [0, 2, 4]));
    for (const f of v.flags) out.push(`    flagged ${short(f.miner)} in window ${f.window}: ${f.reason} (${f.detail})`);
    for (const p of v.weights) out.push(`    weights proposed for window ${p.window}: ${p.entries.map((e) => `${short(e.hotkey)}=${e.share.toFixed(4)}`).join(" ") || "-"}`);
  }
  return `${out.join("\n")}\n`;
};

/** A changed value in one short line: hotkeys and the run's ids shortened as in the tables. */
const valueText = (run: string, v: unknown): string => {
  const t = (JSON.stringify(v) ?? "undefined").split(`"${run}:`).join('"').replace(/"(5[1-9A-HJ-NP-Za-km-z]{7})[1-9A-HJ-NP-Za-km-z]{40}"/g, '"$1…"');
  return t.length > 100 ? `${t.slice(0, 99)}…` : t;
};

const changeText = (run: string, c: Change): string => {
  const short = shortener(run);
  const path = c.path.map((p) => (typeof p === "number" ? String(p) : short(p))).join(".");
  switch (c.kind) {
    case "added": return `  + ${path}: ${valueText(run, c.after)}`;
    case "removed": return `  - ${path}: ${valueText(run, c.before)}`;
    case "changed": return `  ~ ${path}: ${valueText(run, c.before)} -> ${valueText(run, c.after)}`;
  }
};

/** The diff as text: the two points, then one line per change (+ added, - removed, ~ changed). */
export const diffText = (run: string, d: SnapshotDiff): string => {
  const head = `run ${run} from seq ${d.from.seq} (step ${d.from.step}) to seq ${d.to.seq} (step ${d.to.step}): ${d.changes.length} change${d.changes.length === 1 ? "" : "s"}`;
  return `${[head, ...d.changes.map((c) => changeText(run, c))].join("\n")}\n`;
};
