// The dashboard page: loads the folded view, then applies the server's per-fact updates from its
// event stream (the same updates the server folded, in the same order; see
// src/machines/dashboard/view.ts). The time slider asks the server for the state at a fact.
/* global uPlot */
"use strict";

const $ = (id) => document.getElementById(id);
const short = (id) => (id == null ? "–" : id.length > 12 ? `${id.slice(0, 8)}…` : id);
const fmt = (x, d = 3) => (x == null || !Number.isFinite(x) ? "–" : x.toFixed(d));
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

let view = null;
let dirty = false;
let charts = null;

/** The rows an update adds or replaces: the page's half of applyUpdate. */
const upsert = (rows, row, key) => {
  const i = rows.findIndex((r) => key(r) === key(row));
  if (i < 0) rows.push(row);
  else rows[i] = row;
};
const apply = (u) => {
  if (u.run) view.run = u.run;
  if (u.done) view.done = true;
  if (u.curve) view.curve.push(u.curve);
  if (u.link) upsert(view.links, u.link, (l) => `${l.kind}:${l.from}>${l.to}`);
  if (u.miner) upsert(view.miners, u.miner, (m) => m.id);
  if (u.merge) upsert(view.merges, u.merge, (m) => m.id);
  if (u.timeline) view.timeline.push(u.timeline);
  if (u.score) upsert(view.scores, u.score, (s) => `${s.validator}:${s.miner}`);
  view.seq = Math.max(view.seq, u.seq);
};

/** Tokens per second over the last `span` completed microbatches (wall-clock metadata of the facts). */
const rates = (curve, span = 8) => curve.map((p, i) => {
  const q = curve[Math.max(0, i - span)];
  const dt = (p.at - q.at) / 1000;
  return i === 0 || dt <= 0 ? null : (p.tokens - q.tokens) / dt;
});

const movingMean = (ys, span = 16) => {
  let sum = 0;
  return ys.map((y, i) => {
    sum += y;
    if (i >= span) sum -= ys[i - span];
    return sum / Math.min(i + 1, span);
  });
};

const makeCharts = () => {
  // Microbatches are counted: whole-number ticks on the x axis.
  const whole = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];
  const axes = [{ stroke: "#8a96a3", grid: { stroke: "#2a3440" }, incrs: whole }, { stroke: "#8a96a3", grid: { stroke: "#2a3440" } }];
  const width = (el) => Math.max(300, el.clientWidth - 4);
  const loss = new uPlot({
    width: width($("loss-chart")), height: 220, axes,
    scales: { x: { time: false } },
    series: [{ label: "microbatch" }, { label: "loss", stroke: "#4fb0ff", points: { show: false } }, { label: "mean", stroke: "#ffb347", dash: [6, 4], points: { show: false } }],
  }, [[], [], []], $("loss-chart"));
  const tps = new uPlot({
    width: width($("tps-chart")), height: 220, axes,
    scales: { x: { time: false } },
    series: [{ label: "microbatch" }, { label: "tok/s", stroke: "#5fd38d", points: { show: false } }],
  }, [[], []], $("tps-chart"));
  window.addEventListener("resize", () => {
    loss.setSize({ width: width($("loss-chart")), height: 220 });
    tps.setSize({ width: width($("tps-chart")), height: 220 });
  });
  return { loss, tps };
};

const renderCharts = () => {
  const xs = view.curve.map((p) => p.completed);
  const ys = view.curve.map((p) => p.loss);
  charts.loss.setData([xs, ys, movingMean(ys)]);
  const r = rates(view.curve);
  charts.tps.setData([xs, r]);
  $("loss-chart").dataset.points = String(xs.length);
  $("tps-chart").dataset.points = String(r.filter((x) => x != null).length);
  const last = r.filter((x) => x != null).slice(-1)[0];
  $("tps").textContent = last == null ? "–" : last.toFixed(0);
};

const renderPipeline = () => {
  const svg = $("pipeline");
  const stages = view.run ? view.run.stages : 0;
  const W = svg.clientWidth || 600;
  const H = svg.clientHeight || 260;
  const byStage = Array.from({ length: stages }, () => []);
  for (const m of view.miners) if (m.stage != null && m.stage < stages) byStage[m.stage].push(m);
  for (const col of byStage) col.sort((a, b) => (a.id < b.id ? -1 : 1));
  const pos = new Map();
  byStage.forEach((col, s) => col.forEach((m, i) => pos.set(m.id, [((s + 0.5) * W) / Math.max(1, stages), ((i + 0.5) * (H - 20)) / Math.max(1, col.length) + 14])));
  const max = Math.max(1, ...view.links.map((l) => l.count));
  let out = "";
  for (const l of view.links) {
    const a = pos.get(l.from);
    const b = pos.get(l.to);
    if (!a || !b) continue;
    const w = 0.5 + (3.5 * Math.log1p(l.count)) / Math.log1p(max);
    const off = l.kind === "grad" ? 4 : 0;
    out += `<line x1="${a[0]}" y1="${a[1] + off}" x2="${b[0]}" y2="${b[1] + off}" stroke="${l.kind === "act" ? "#4fb0ff" : "#ffb347"}" stroke-width="${w.toFixed(2)}" stroke-opacity="0.55" ${l.kind === "grad" ? 'stroke-dasharray="4 3"' : ""}><title>${l.kind} ${esc(short(l.from))} → ${esc(short(l.to))}: ${l.count}</title></line>`;
  }
  for (let s = 0; s < stages; s++) out += `<text x="${((s + 0.5) * W) / stages}" y="11" fill="#8a96a3" text-anchor="middle" font-size="11">stage ${s}</text>`;
  for (const [id, [x, y]] of pos) {
    const m = view.miners.find((mm) => mm.id === id);
    const flagged = view.scores.some((sc) => sc.miner === id && sc.flagged.length > 0);
    const color = m.status === "active" ? (flagged ? "#ff6b6b" : "#5fd38d") : m.status === "gone" || m.status === "kicked" ? "#555" : "#8a96a3";
    out += `<g class="miner" data-miner="${esc(id)}"><circle cx="${x}" cy="${y}" r="9" fill="${color}"><title>${esc(id)} (${m.status})</title></circle><text x="${x + 13}" y="${y + 4}" fill="#d8dee6" font-size="11">${esc(short(id))}</text></g>`;
  }
  svg.innerHTML = out;
};

const renderMerges = () => {
  const rows = view.merges.slice(-30).reverse();
  $("merges").innerHTML = `<tr><th>seq</th><th>stage</th><th>epoch</th><th>miners</th><th>partitions</th><th>accepted</th><th>skipped</th><th>disputes</th><th>reassigned</th></tr>` +
    rows.map((m) => `<tr><td>${m.seq}</td><td>${m.stage}</td><td>${m.epoch}</td><td>${m.participants}</td><td>${m.partitions}</td><td>${m.accepted ?? "…"}</td><td>${m.skipped ?? "…"}</td><td>${m.disputes}</td><td>${m.reassigned}</td></tr>`).join("");
};

const renderTimeline = () => {
  const items = view.timeline.slice(-200).reverse();
  $("timeline").innerHTML = items.map((t) => `<li data-seq="${t.seq}"><span class="kind k-${t.kind}">${t.kind}</span> seq ${t.seq} ${esc(short(t.miner))} <span class="dim">${esc(t.detail)}</span></li>`).join("");
  const strip = $("timeline-strip");
  const W = strip.clientWidth || 600;
  const end = Math.max(1, view.seq);
  const color = { reissued: "#ffb347", disputed: "#ffb347", left: "#8a96a3" };
  strip.innerHTML = `<rect x="0" y="10" width="${W}" height="2" fill="#2a3440"></rect>` +
    view.merges.map((m) => `<rect x="${(m.seq / end) * W}" y="6" width="1" height="10" fill="#4fb0ff" opacity="0.5"></rect>`).join("") +
    view.timeline.map((t) => `<rect x="${(t.seq / end) * W - 1}" y="2" width="3" height="18" fill="${color[t.kind] || "#ff6b6b"}"><title>${t.kind} at ${t.seq}</title></rect>`).join("");
};

const renderScores = () => {
  const rows = [...view.scores].sort((a, b) => a.stage - b.stage || (a.miner < b.miner ? -1 : 1));
  $("scores").innerHTML = `<tr><th>miner</th><th>stage</th><th>window</th><th>contribution</th><th>95% CI</th><th>samples</th><th>flags</th><th>weight</th><th>validator</th></tr>` +
    rows.map((s) => `<tr data-miner="${esc(s.miner)}"><td>${esc(short(s.miner))}</td><td>${s.stage}</td><td>${s.window}</td><td>${fmt(s.contribution, 4)}</td><td>[${fmt(s.lo, 3)}, ${fmt(s.hi, 3)}]</td><td>${s.samples}</td><td class="flag">${esc(s.flagged.join(", "))}</td><td>${s.share == null ? "–" : `${(100 * s.share).toFixed(2)}%`}</td><td>${esc(short(s.validator))}</td></tr>`).join("");
};

const render = () => {
  dirty = false;
  $("run").textContent = view.run ? `run ${view.run.run}` : "no run yet";
  $("status").textContent = view.live ? (view.done ? "live · completed" : "live") : view.done ? "log · completed" : "log";
  $("status").className = view.live && !view.done ? "pill live" : "pill";
  $("facts").textContent = String(view.facts);
  $("completed").textContent = String(view.curve.length ? view.curve[view.curve.length - 1].completed : 0);
  $("total").textContent = view.run ? String(view.run.microbatches) : "?";
  renderCharts();
  renderPipeline();
  renderMerges();
  renderTimeline();
  renderScores();
  const slider = $("slider");
  const atEnd = Number(slider.value) >= Number(slider.max);
  slider.max = String(view.seq);
  if ($("follow").checked && atEnd) {
    slider.value = String(view.seq);
    followState();
  }
};
/** While following the end, the state is re-asked at most every 400 ms (not once per fact). */
let following = null;
const followState = () => {
  if (following !== null) return;
  following = setTimeout(() => {
    following = null;
    if ($("follow").checked) loadState(view.seq);
  }, 400);
};
const later = () => {
  if (!dirty) {
    dirty = true;
    requestAnimationFrame(render);
  }
};

const table = (el, head, rows) => {
  el.innerHTML = `<tr>${head.map((h) => `<th>${h}</th>`).join("")}</tr>` + rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`).join("");
};

let stateRequest = 0;
/** Asks the server for the state at `seq` (the orchestrator's fold up to that fact) and shows it. */
const loadState = async (seq) => {
  const mine = ++stateRequest;
  const res = await fetch(`/api/state?at=${seq}`);
  const s = await res.json();
  if (mine !== stateRequest || !res.ok) return;
  const o = s.orchestrator;
  $("state-seq").textContent = String(s.seq);
  $("state-facts").textContent = String(s.facts);
  $("state-completed").textContent = String(o.counters.completed);
  $("state-issued").textContent = String(o.counters.issued);
  $("state-reissued").textContent = String(o.counters.reissued);
  $("state-merges").textContent = String(o.counters.mergesDone);
  $("state-tick").textContent = String(o.tick);
  table($("state-stages"), ["stage", "phase", "epoch", "since merge", "merge"], o.stages.map((st, i) => [i, st.phase, st.epoch, st.sinceMerge, esc(short(st.merge))]));
  table($("state-miners"), ["miner", "status", "stage", "queue", "samples"], Object.values(o.miners).map((m) => [esc(short(m.id)), `${m.status}${m.flagged ? " ⚑" : ""}`, m.stage ?? "–", m.queue, m.samples]));
  const leases = Object.values(o.leases);
  $("state-lease-count").textContent = `(${leases.length})`;
  table($("state-leases"), ["microbatch", "attempt", "pathway"], leases.slice(0, 12).map((l) => [l.microbatch, l.attempt, l.pathway.map((p) => esc(short(p))).join(" → ")]));
  const stateName = (v) => (typeof v === "string" ? v : Object.entries(v).map(([k, x]) => `${k}.${stateName(x)}`).join(","));
  table($("state-workers"), ["miner", "machine state", "stage", "steps", "merge", "pending", "held", "published / logged"], s.workers === null ? [["(rebuilding…)", "", "", "", "", "", "", ""]] :
    Object.values(s.workers).map((w) => (w.reconstructed
      ? [esc(short(w.miner)), `<span data-state="${esc(stateName(w.state))}">${esc(stateName(w.state))}</span>`, w.stage ?? "–", w.steps, esc(short(w.merge)), w.pending, w.held, `${w.published} / ${w.logged}`]
      : [esc(short(w.miner)), `not rebuilt: ${esc(w.reason)}`, "", "", "", "", "", ""])));
  table($("state-open-merges"), ["stage", "epoch", "partitions", "accepted"], Object.values(o.merges).map((m) => [m.stage, m.epoch, m.partitions.length, m.partitions.filter((p) => p.status === "accepted").length]));
};

const boot = async () => {
  view = await (await fetch("/api/view")).json();
  charts = makeCharts();
  render();
  $("slider").addEventListener("input", () => loadState(Number($("slider").value)));
  $("timeline").addEventListener("click", (ev) => {
    const li = ev.target.closest("li");
    if (!li) return;
    $("follow").checked = false;
    $("slider").value = li.dataset.seq;
    loadState(Number(li.dataset.seq));
  });
  if (!view.live) return;
  // Each message is one fact's updates, id = its position; a reconnect resumes after the last id seen.
  const events = new EventSource(`/api/events?after=${view.facts}`);
  events.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.n <= view.facts) return;
    view.facts = m.n;
    for (const u of m.updates) apply(u);
    later();
  };
};

boot();
