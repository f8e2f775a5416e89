// `swarmline payout`: pays a scored window on chain. The log is audited first (a log that does not
// re-derive is never paid), the validator's WeightsProposed for the window becomes the weight
// vector, checked against the subnet's hyperparameters, and is sent as set_weights, or as
// commit_weights where commit-reveal is on (`--reveal` later sends the journaled reveals).
// `--dry-run` prints the signed extrinsic, decoded and as hex, and sends nothing. `--record` then
// appends WeightsSubmitted to the run's log, the --log file or the run on NATS, on the validator's
// own chain. Exit 0 paid (or previewed, or already recorded), 1 refused (a log that does not audit,
// a chain or hyperparameter refusal, a record that could not be appended), 2 bad usage.
import type { Command } from "commander";
import { Result } from "effect";
import {
  type ChainEndpoint, connectChain, dropUnrecorded, findUnrecorded, hotkeyPair, isChainError, planWeights, putUnrecorded, recordBasis, recordedSubmission, revealPending, signedPreview, type Submission,
  submitPlan, weightsSubmittedPayload,
} from "../actors/chain/index.js";
import { AppendConflict } from "../actors/eventlog/errors.js";
import { loadHotkey } from "../actors/identity/index.js";
import { decodeFactsChecked } from "../events/facts.js";
import { parseLogLines } from "../events/jsonl.js";
import type { FactOf, SwarmPayloads } from "../events/swarm/index.js";
import { auditLines, describeDivergence } from "./audit.js";
import { setExit } from "./exit.js";
import { parseNetuid } from "./metagraph.js";
import { openRunSource, Refused, type RunSource } from "./payout-source.js";
import { checkRunId, UsageError } from "./run-settings.js";

type Flags = {
  log?: string; nats?: string; run?: string; secure?: boolean; chain: string; netuid: string; hotkey: string; dryRun?: boolean; window?: string; journal: string; paid: string;
  reveal?: boolean; record?: boolean; json?: boolean;
};

/** The payout command's inputs, parsed. */
export interface PayoutOptions {
  /** The scored run: an exported file, or a run on a NATS server (`secure`: join its gatekeeper as validator first). */
  readonly source: { readonly file: string } | { readonly nats: string; readonly run: string; readonly secure: boolean } | null;
  readonly netuid: number;
  readonly hotkey: string;
  readonly dryRun: boolean;
  readonly window: number | null;
  readonly journal: string;
  /**
   * With `record`: where a payment the chain took waits for its record (UnrecordedPayment), so a
   * record that failed is made by the next `--record` without paying again.
   */
  readonly paid: string;
  readonly reveal: boolean;
  /** Append WeightsSubmitted to the run's log (the file, or the run on NATS) after a submission. */
  readonly record: boolean;
  readonly json: boolean;
}

export const payoutOptionsFromFlags = (f: Flags): PayoutOptions => {
  const netuid = parseNetuid(f.netuid);
  if (f.log !== undefined && (f.nats !== undefined || f.run !== undefined)) throw new UsageError({ message: "payout takes either --log FILE or --nats URL --run ID, not both" });
  if ((f.nats === undefined) !== (f.run === undefined)) throw new UsageError({ message: "--nats and --run go together: the server holding the run, and the run" });
  if (f.secure === true && f.nats === undefined) throw new UsageError({ message: "--secure is for a run on a secured NATS server (`swarmline nats --secure`): it goes with --nats URL --run ID" });
  const source = f.log !== undefined ? { file: f.log } : f.nats !== undefined ? { nats: f.nats, run: checkRunId(f.run as string), secure: f.secure === true } : null;
  if (source === null && f.reveal !== true) throw new UsageError({ message: "payout needs the scored run: --log FILE (an exported JSONL log) or --nats URL --run ID" });
  let window: number | null = null;
  if (f.window !== undefined) {
    window = Number(f.window);
    if (!/^\d+$/.test(f.window.trim())) throw new UsageError({ message: `--window must be an integer >= 0, got "${f.window}"` });
  }
  if (f.record === true && (source === null || f.reveal === true || f.dryRun === true))
    throw new UsageError({ message: "--record appends to the run's log after a submission: it needs --log FILE or --nats URL --run ID, and neither --dry-run nor --reveal" });
  return { source, netuid, hotkey: f.hotkey, dryRun: f.dryRun === true, window, journal: f.journal, paid: f.paid, reveal: f.reveal === true, record: f.record === true, json: f.json === true };
};

/** The validator's payout of `window` (default its last), from an audited log. */
export const proposalOf = (lines: readonly string[], validator: string, window: number | null): FactOf<"WeightsProposed"> => {
  const a = auditLines(lines);
  if (!a.ok) throw new Refused(`refusing to pay: the log does not audit: ${a.firstDivergence === undefined ? "no verdict" : describeDivergence(a.firstDivergence)}`);
  const parsed = parseLogLines(lines);
  const envelopes = Result.isSuccess(parsed) ? parsed.success.entries.map((e) => e.event) : [];
  const proposals = decodeFactsChecked(envelopes).facts.filter((f): f is FactOf<"WeightsProposed"> => f.type === "WeightsProposed" && f.actor === validator);
  if (proposals.length === 0) throw new UsageError({ message: `the log holds no WeightsProposed by ${validator}: is --hotkey the validator that scored this run?` });
  const p = window === null ? proposals[proposals.length - 1] : proposals.find((f) => f.payload.window === window);
  if (p === undefined) throw new UsageError({ message: `${validator} proposed no weights for window ${window} (it proposed windows ${proposals.map((f) => f.payload.window).join(", ")})` });
  return p;
};

const submissionText = (s: Submission, recorded?: string): string =>
  `${s.call} of window ${s.window} on subnet ${s.netuid}: extrinsic ${s.extrinsic} in block ${s.block} (${s.blockHash})${s.commitHash === null ? "" : `, commit ${s.commitHash}`}\n`
  + `  ${recorded === undefined ? "record in the run's log" : `recorded in ${recorded}`}: WeightsSubmitted ${JSON.stringify(weightsSubmittedPayload(s))}\n`;

const alreadyText = (w: SwarmPayloads["WeightsSubmitted"], where: string): string =>
  `window ${w.window} on subnet ${w.netuid} is already paid and recorded in ${where}: ${w.call} extrinsic ${w.extrinsic} in block ${w.block}; nothing sent, nothing appended\n`;

/** An expected failure of another layer (NATS, the gatekeeper, the log), as `Tag: message`; undefined for a defect. */
const tagged = (e: unknown): string | undefined =>
  e instanceof Error && "_tag" in e && typeof e._tag === "string" ? `${e._tag}: ${e.message}` : undefined;

/** Why a record failed: a tagged error's tag and message, else the error's message. */
const failureOf = (e: unknown): string => tagged(e) ?? (e instanceof Error ? e.message : String(e));

/** The command's body with the chain as a URL or a provider (tests pass an in-process node). Returns the exit code. */
export const runPayout = async (o: PayoutOptions, chain: ChainEndpoint, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> => {
  const fail = (message: string): number => {
    process.stderr.write(`swarmline payout: ${message}\n`);
    return 1;
  };
  let source: RunSource | undefined;
  try {
    const badHotkey = (e: unknown): never => {
      throw new UsageError({ message: `--hotkey: ${e instanceof Error ? e.message : String(e)}` });
    };
    const pair = await hotkeyPair(o.hotkey).catch(badHotkey);
    // The same key as the log knows it: it certifies the record's session, and joins a secured run.
    const hotkey = (() => {
      try {
        return loadHotkey(o.hotkey);
      } catch (e) {
        return badHotkey(e);
      }
    })();
    source = o.source === null ? undefined : await openRunSource(o.source, hotkey);
    const lines = source?.lines ?? [];
    const proposal = source === undefined ? null : proposalOf(lines, pair.address, o.window);
    // Where a record goes, and whether this window is recorded already: known before anything is sent.
    const basis = o.record ? recordBasis(lines, pair.address) : undefined;
    const recorded = basis === undefined || proposal === null ? undefined : recordedSubmission(basis, proposal.payload.window, o.netuid);
    if (recorded !== undefined) {
      out(o.json ? `${JSON.stringify({ submitted: [], alreadyRecorded: recorded })}\n` : alreadyText(recorded, source?.where ?? "the log"));
      dropUnrecorded(o.paid, pair.address, o.netuid, recorded.window);
      return 0;
    }
    // Paid by an earlier run whose record failed: record that payment now, send nothing.
    const earlier = basis === undefined || proposal === null ? undefined : findUnrecorded(o.paid, pair.address, o.netuid, proposal.payload.window);
    const src = source;
    if (earlier !== undefined && basis !== undefined && src !== undefined) {
      const w = earlier.payload;
      const seqs = await src.record(basis, hotkey, w, { proposal: earlier.proposal, at: Date.now() }).catch((e: unknown) => {
        const why = failureOf(e);
        throw new Refused(`window ${w.window} was paid earlier (${w.call} extrinsic ${w.extrinsic} in block ${w.block}, kept in ${o.paid}) and is still not recorded in ${src.where}: ${why}; nothing sent`);
      });
      dropUnrecorded(o.paid, pair.address, o.netuid, w.window);
      out(o.json
        ? `${JSON.stringify({ submitted: [], paidEarlier: w, recorded: { where: src.where, seqs } })}\n`
        : `window ${w.window} on subnet ${w.netuid} was paid earlier (${w.call} extrinsic ${w.extrinsic} in block ${w.block}, kept in ${o.paid}); recorded now in ${src.where} at seq ${seqs.join(", ")}; nothing sent\n`);
      return 0;
    }
    const api = await connectChain(chain);
    try {
      if (o.reveal) {
        const done = await revealPending(api, o.netuid, pair, o.journal);
        out(o.json ? `${JSON.stringify({ submitted: done.map(weightsSubmittedPayload) })}\n` : done.map((d) => submissionText(d)).join(""));
        return 0;
      }
      const p = proposal as FactOf<"WeightsProposed">;
      const request = { netuid: o.netuid, pair, window: p.payload.window, rows: p.payload.entries, journal: o.journal };
      const plan = await planWeights(api, request);
      if (o.dryRun) {
        const x = await signedPreview(plan, pair);
        if (o.json) out(`${JSON.stringify({ dryRun: true, window: plan.window, netuid: plan.netuid, call: x.method, args: x.args, signer: x.signer, nonce: x.nonce, hash: x.hash, hex: x.hex, salt: plan.salt })}\n`);
        else out([
          `dry run: window ${plan.window} of ${p.actor} on subnet ${plan.netuid} (block ${plan.metagraph.block}, commit-reveal ${plan.call === "commit_weights" ? "on" : "off"}); nothing sent`,
          `  ${x.section}.${x.method}(${Object.entries(x.args).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(", ")})`,
          `  signer ${x.signer}, nonce ${x.nonce}, hash ${x.hash}`,
          `  hex ${x.hex}`,
          "",
        ].join("\n"));
        return 0;
      }
      const s = await submitPlan(api, plan, request);
      const payload = weightsSubmittedPayload(s);
      if (basis === undefined || source === undefined) {
        out(o.json ? `${JSON.stringify({ submitted: [payload] })}\n` : submissionText(s));
        return 0;
      }
      // Kept until the record is in: a record that fails below is made by the next --record.
      putUnrecorded(o.paid, { hotkey: pair.address, proposal: p.id, payload });
      let seqs: readonly number[];
      try {
        seqs = await source.record(basis, hotkey, payload, { proposal: p.id, at: Date.now() });
      } catch (e) {
        // The chain took the weights whatever went wrong here: say so first, with the fact that could not be recorded.
        const why = failureOf(e);
        out(o.json ? `${JSON.stringify({ submitted: [payload], recorded: null })}\n` : submissionText(s));
        const what = e instanceof AppendConflict
          ? `nothing was appended: ${hotkey.address}'s subject moved on since the log was read (another writer on its chain: is \`swarmline validate\` of this hotkey still running?)`
          : "the append did not complete (audit the run to see what it holds)";
        return fail(`paid, but not recorded in ${source.where}: ${why}\n  ${what}; the chain holds the weights (extrinsic ${payload.extrinsic} in block ${payload.block}), kept in ${o.paid}: payout --record again records them without paying again`);
      }
      dropUnrecorded(o.paid, pair.address, o.netuid, payload.window);
      out(o.json ? `${JSON.stringify({ submitted: [payload], recorded: { where: source.where, seqs } })}\n` : submissionText(s, `${source.where} at seq ${seqs.join(", ")}`));
      return 0;
    } finally {
      await api.disconnect();
    }
  } catch (e) {
    if (e instanceof Refused) return fail(e.message);
    if (isChainError(e)) return fail(`${e._tag}: ${e.message}${"sent" in e ? (e.sent ? " (the chain refused it)" : " (nothing was sent)") : ""}`);
    if (e instanceof UsageError) throw e;
    const why = tagged(e);
    if (why !== undefined) return fail(why);
    throw e;
  } finally {
    await source?.close();
  }
};

export const registerPayout = (program: Command): void => {
  program
    .command("payout")
    .description("Pay a scored window on Bittensor: audit the log, turn the validator's WeightsProposed into subtensor weights, and set them (set_weights, or commit_weights then --reveal on commit-reveal subnets); --record writes the submission into the run's log")
    .option("--log <file>", "the run's exported JSONL log")
    .option("--nats <url>", "the NATS server holding the run, instead of --log (with --run)")
    .option("--run <id>", "the run (with --nats)")
    .option("--secure", "the --nats server is secured (`swarmline nats --secure`): join the run through its gatekeeper as validator to read and record it (the hotkey must be on its allow-list as validator; a `validate` of the same hotkey still on the run is logged out)")
    .requiredOption("--chain <url>", "a subtensor node's websocket endpoint, ws:// or wss://")
    .requiredOption("--netuid <n>", "the subnet to set weights on")
    .requiredOption("--hotkey <uri>", "the validator's hotkey (secret URI): it signs, and must be the actor whose WeightsProposed is paid")
    .option("--window <w>", "the scoring window to pay (default: the validator's last)")
    .option("--dry-run", "print the signed extrinsic (decoded, and its hex) and send nothing")
    .option("--journal <file>", "where commit salts wait for their reveal", "swarmline-reveals.json")
    .option("--paid <file>", "with --record: where a payment the chain took waits until its record is in the log (a failed record is made by the next --record, without paying again)", "swarmline-paid.json")
    .option("--reveal", "reveal the journaled commits of --hotkey on --netuid whose reveal window is open (no log needed)")
    .option("--record", "after the submission, append the WeightsSubmitted fact to the run's log (the --log file, or the run on --nats) on the validator's chain, re-keyed under its hotkey; a window the log already records as paid on --netuid is not paid again")
    .option("--json", "print one JSON object")
    .action(async (f: Flags) => {
      const o = payoutOptionsFromFlags(f);
      if (!/^wss?:\/\//.test(f.chain)) throw new UsageError({ message: `--chain must be a ws:// or wss:// URL of a subtensor node, got "${f.chain}"` });
      setExit(await runPayout(o, f.chain));
    });
};
