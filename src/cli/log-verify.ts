// `swarmline log verify FILE`: checks an exported JSONL log offline (stream order, schemas, hashes,
// per-actor chains, certificates, signatures) and names the first bad event. Exit 0 only if valid.
import { createReadStream, openSync } from "node:fs";
import { createInterface } from "node:readline";
import type { Command } from "commander";
import { nodeCrypto } from "../actors/identity/node-crypto.js";
import { LogVerifier, type VerifyResult } from "../events/verify.js";
import { vocabularyRegistry } from "../events/vocabulary.js";
import { setExit } from "./main.js";

/** Exit codes: 0 valid, 1 invalid log, 2 unreadable file. */
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

const describeFailure = (r: Extract<VerifyResult, { ok: false }>): string => {
  const who = r.eventId === undefined ? "" : ` event ${r.eventId}${r.actor === undefined ? "" : ` (actor ${r.actor}, seq ${r.seq})`}`;
  return `line ${r.index}${who}: ${r.reason}: ${r.detail}`;
};

export const registerVerify = (log: Command): void => {
  log
    .command("verify")
    .description("Verify an exported JSONL log: stream order, schemas, hashes, actor chains, certificates and signatures")
    .argument("<file>", "the exported log")
    .option("--json", "print the result as one JSON object")
    .option("--full-signatures", "verify every signature present, not only chain heads (slower; heads already authenticate every event)")
    .action(async (file: string, opts: { json?: boolean; fullSignatures?: boolean }) => {
      const full = opts.fullSignatures === true;
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
      if (opts.json === true) process.stdout.write(`${JSON.stringify({ file, signatures: full ? "all" : "heads", ...result })}\n`);
      else if (result.ok)
        process.stdout.write(`valid: ${file}: ${result.events} events from ${result.actors} actors (chains, certificates and ${full ? "all" : "chain-head"} signatures verified)\n`);
      else process.stdout.write(`INVALID: ${file}: ${describeFailure(result)}\n`);
      setExit(result.ok ? 0 : INVALID);
    });
};
