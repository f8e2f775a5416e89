// `swarmline log verify FILE`: checks an exported JSONL log offline (stream order, schemas, hashes,
// per-actor chains, certificates, signatures) and names the first bad event. Exit 0 only if valid.
// With `--head FILE` the log must reach every anchored head; with `--chain URL --netuid N` as well,
// the orchestrator's commitment on chain must be the head file's last anchor.
import { createReadStream, openSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import type { Command } from "commander";
import { type ChainAnchorCheck, checkAnchorOnChain } from "../actors/chain/anchor.js";
import { type ChainEndpoint, connectChain } from "../actors/chain/connect.js";
import { isChainError } from "../actors/chain/errors.js";
import { nodeCrypto } from "../actors/identity/node-crypto.js";
import { type AnchorProblem, checkAnchors, type LogAnchor, parseHeadFile } from "../events/head.js";
import { parseLogLines, splitLines } from "../events/jsonl.js";
import { LogVerifier, type VerifyResult } from "../events/verify.js";
import { vocabularyRegistry } from "../events/vocabulary.js";
import { setExit } from "./exit.js";
import { parseNetuid } from "./metagraph.js";
import { UsageError } from "./run-settings.js";

/** Exit codes: 0 valid, 1 invalid log, 2 unreadable file (or a chain that cannot be read). */
const INVALID = 1;
const UNREADABLE = 2;

/** Streams `file` through a LogVerifier line by line, stopping at the first failure. */
export const verifyFile = async (file: string, fullSignatures: boolean): Promise<VerifyResult> => {
  const fd = openSync(file, "r");
  const verifier = new LogVerifier(nodeCrypto, vocabularyRegistry(), { fullSignatures });
  const lines = createInterface({ input: createReadStream("", { fd }), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) if (!verifier.line(line)) break;
  lines.close();
  return verifier.result();
};

/** The anchors of a head file, or why it cannot be read (exit 2: the caller's to fix). */
const readAnchors = (file: string): LogAnchor[] | string => {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    return `cannot read --head ${file}: ${e instanceof Error ? e.message : String(e)}`;
  }
  const r = parseHeadFile(text);
  return "error" in r ? `--head ${file} is not a head file: ${r.error} (sim --head or orchestrate --head write one)` : r.anchors;
};

/** Checks a valid log against anchored heads: every anchored chain must reach its anchored event. */
export const checkHeadFile = (file: string, anchors: readonly LogAnchor[]): AnchorProblem[] => {
  const parsed = parseLogLines(splitLines(readFileSync(file, "utf8")));
  if (parsed._tag === "Failure") return [{ anchor: 0, reason: "Truncated", detail: `the log does not parse at line ${parsed.failure.line}` }];
  const events = parsed.success.entries.map((e) => e.event);
  const started = events.find((e) => e.type === "SwarmRunStarted");
  const orchestrator = started === undefined ? undefined : (started.payload as { orchestrator?: string }).orchestrator;
  return checkAnchors(nodeCrypto, parsed.success.header.run, orchestrator, events, anchors);
};

/**
 * Connects to `chain` and checks that the orchestrator named in the anchors holds the last one's
 * commitment on subnet `netuid` (`checkAnchorOnChain`); a chain that cannot be read throws its ChainError.
 */
export const checkHeadOnChain = async (chain: ChainEndpoint, netuid: number, anchors: readonly LogAnchor[]): Promise<ChainAnchorCheck> => {
  const api = await connectChain(chain);
  try {
    return await checkAnchorOnChain(api, netuid, anchors);
  } finally {
    await api.disconnect();
  }
};

type Flags = { json?: boolean; fullSignatures?: boolean; head?: string; chain?: string; netuid?: string };

/** `--chain URL --netuid N`, checked before anything is read: both or neither, and only with --head. */
const chainFlags = (f: Flags): { readonly url: string; readonly netuid: number } | undefined => {
  if (f.chain === undefined && f.netuid === undefined) return undefined;
  if (f.chain === undefined || f.netuid === undefined)
    throw new UsageError({ message: "--chain and --netuid go together: the subtensor node, and the subnet the orchestrator commits its anchors on" });
  if (f.head === undefined) throw new UsageError({ message: "--chain checks the head file's last anchor against the orchestrator's commitment: it goes with --head FILE" });
  if (!/^wss?:\/\//.test(f.chain)) throw new UsageError({ message: `--chain must be a ws:// or wss:// URL of a subtensor node, got "${f.chain}"` });
  return { url: f.chain, netuid: parseNetuid(f.netuid) };
};

const describeFailure = (r: Extract<VerifyResult, { ok: false }>): string => {
  const who = r.eventId === undefined ? "" : ` event ${r.eventId}${r.actor === undefined ? "" : ` (actor ${r.actor}, seq ${r.seq})`}`;
  return `line ${r.index}${who}: ${r.reason}: ${r.detail}`;
};

export const registerVerify = (log: Command): void => {
  log
    .command("verify")
    .description("Verify an exported JSONL log: stream order, schemas, hashes, actor chains, certificates and signatures; a log with no events, or that ends before the stream sequence its header records, is invalid")
    .argument("<file>", "the exported log")
    .option("--json", "print the result as one JSON object")
    .option("--full-signatures", "verify every signature present, not only chain heads (slower; heads already authenticate every event)")
    .option("--head <file>", "also check the log against the orchestrator's signed heads (sim/orchestrate --head): a log cut at its end is invalid")
    .option("--chain <url>", "with --head and --netuid: also check on this subtensor node (ws:// or wss://) that the orchestrator's commitment is the head file's last anchor; a file cut before its last anchor, or a last anchor never committed, is invalid")
    .option("--netuid <n>", "with --chain: the subnet the orchestrator commits its anchors on")
    .action(async (file: string, opts: Flags) => {
      const full = opts.fullSignatures === true;
      const chain = chainFlags(opts);
      const anchors = opts.head === undefined ? undefined : readAnchors(opts.head);
      if (typeof anchors === "string") {
        if (opts.json === true) process.stdout.write(`${JSON.stringify({ file, ok: false, reason: "Unreadable", detail: anchors })}\n`);
        else process.stderr.write(`swarmline log verify: ${anchors}\n`);
        setExit(UNREADABLE);
        return;
      }
      let result: VerifyResult;
      try {
        result = await verifyFile(file, full);
      } catch (e) {
        const detail = `cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`;
        if (opts.json === true) process.stdout.write(`${JSON.stringify({ file, ok: false, reason: "Unreadable", detail })}\n`);
        else process.stderr.write(`swarmline log verify: ${detail}\n`);
        setExit(UNREADABLE);
        return;
      }
      // A valid log must also hold everything the anchors hold.
      const problems = result.ok && anchors !== undefined ? checkHeadFile(file, anchors) : [];
      const first = problems[0];
      // And the chain must hold the last anchor (asked only of a log that passed everything else).
      let onChain: ChainAnchorCheck | undefined;
      if (result.ok && first === undefined && anchors !== undefined && chain !== undefined) {
        try {
          onChain = await checkHeadOnChain(chain.url, chain.netuid, anchors);
        } catch (e) {
          if (!isChainError(e)) throw e;
          const detail = `cannot check the head file on --chain ${chain.url}: ${e._tag}: ${e.message}`;
          if (opts.json === true) process.stdout.write(`${JSON.stringify({ file, ok: false, reason: "Unreadable", detail })}\n`);
          else process.stderr.write(`swarmline log verify: ${detail}\n`);
          setExit(UNREADABLE);
          return;
        }
      }
      const offChain = onChain !== undefined && !onChain.ok ? onChain : undefined;
      const ok = result.ok && first === undefined && offChain === undefined;
      const chainDetail = (c: Extract<ChainAnchorCheck, { ok: false }>): string => `chain (subnet ${c.netuid}): ${c.detail}`;
      if (opts.json === true) {
        const anchored = anchors === undefined ? {} : { anchors: anchors.length, anchorProblems: problems };
        const verdict = first !== undefined ? { ok: false, reason: first.reason, detail: `head file anchor ${first.anchor}: ${first.detail}` }
          : offChain !== undefined ? { ok: false, reason: offChain.reason, detail: chainDetail(offChain) }
            : result;
        process.stdout.write(`${JSON.stringify({ file, signatures: full ? "all" : "heads", ...verdict, ...anchored, ...(onChain === undefined ? {} : { chain: onChain }) })}\n`);
      } else if (first !== undefined) process.stdout.write(`INVALID: ${file}: ${first.reason}: head file anchor ${first.anchor}: ${first.detail}\n`);
      else if (offChain !== undefined) process.stdout.write(`INVALID: ${file}: ${offChain.reason}: ${chainDetail(offChain)}\n`);
      else if (result.ok)
        process.stdout.write(
          `valid: ${file}: ${result.events} events from ${result.actors} actors (chains, certificates and ${full ? "all" : "chain-head"} signatures verified)${result.refused === undefined ? "" : `; ${result.refused} stored messages the export refused`}${anchors === undefined ? "" : `; holds all ${anchors.length} anchored heads of ${opts.head}`}${onChain?.ok === true ? `; its last anchor is ${onChain.orchestrator}'s commitment on subnet ${onChain.netuid} (block ${onChain.block})` : ""}\n`,
        );
      else process.stdout.write(`INVALID: ${file}: ${describeFailure(result)}\n`);
      setExit(ok ? 0 : INVALID);
    });
};
