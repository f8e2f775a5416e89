// The exported log format: a header line naming the run, then one line per event in stream order
// with its stream sequence, so a removed, duplicated or reordered event shows as a broken sequence.
import { Result } from "effect";
import type { Envelope } from "./envelope.js";
import { readEnvelope } from "./shape.js";
import { isToken } from "./subjects.js";

/** Format 1: the header names the run. Format 2: it also records the stream's last sequence. */
export const LOG_FORMAT = 1;
export const LOG_FORMAT_COUNTED = 2;

/** The first line of every exported log. */
export interface LogHeader {
  readonly swarmline: "log";
  readonly format: typeof LOG_FORMAT | typeof LOG_FORMAT_COUNTED;
  readonly run: string;
  /**
   * Format 2: the facts stream's last sequence when the export began, so the file must hold lines
   * for seqs 1..last (events and refused messages): a truncated file shows.
   */
  readonly last?: number;
}

/** One event line: the facts stream sequence and the envelope as published. */
export interface LogEntry {
  readonly seq: number;
  readonly event: Envelope;
}

/**
 * A stored message the export refused (not a valid event: garbage, a forgery, ...), kept as a
 * line at its stream sequence so the file still accounts for every sequence; its bytes are not.
 */
export interface RefusedLine {
  readonly seq: number;
  readonly refused: { readonly subject: string; readonly reason: string; readonly detail: string };
}

/**
 * The refused line's reason for a stream sequence with no message that no producer's journal
 * refilled (a fact the bus lost): such a log does not verify.
 */
export const DELETED = "Deleted";

/** A line that is not part of a well-formed log; `line` is 1-based (the header is line 1). */
export interface LogParseError {
  readonly _tag: "LogParseError";
  readonly line: number;
  readonly reason: "BadHeader" | "MalformedJson" | "InvalidEntry" | "InvalidEnvelope";
  readonly detail: string;
}

const fail = (line: number, reason: LogParseError["reason"], detail: string): Result.Result<never, LogParseError> =>
  Result.fail({ _tag: "LogParseError", line, reason, detail });

/** The header: format 2 when the stream's last sequence is given (an export), else format 1. */
export const formatLogHeader = (run: string, last?: number): string =>
  JSON.stringify(last === undefined ? { swarmline: "log", format: LOG_FORMAT, run } : { swarmline: "log", format: LOG_FORMAT_COUNTED, run, last });

/** One event line, without the trailing newline. */
export const formatLogLine = (seq: number, event: Envelope): string => JSON.stringify({ seq, event });

/** One refused message's line, without the trailing newline. */
export const formatRefusedLine = (r: RefusedLine): string => JSON.stringify({ seq: r.seq, refused: r.refused });

/**
 * Reads an already-parsed line value as a refused message's line; undefined when it is not one
 * (it has no "refused" field), a parse error when it claims to be one but is malformed.
 */
export const readRefusedLine = (u: unknown, line: number): Result.Result<RefusedLine, LogParseError> | undefined => {
  if (typeof u !== "object" || u === null || Array.isArray(u) || !("refused" in u)) return undefined;
  const { seq, refused } = u as Record<string, unknown>;
  if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 1) return fail(line, "InvalidEntry", "line seq must be a positive integer");
  const r = refused as Record<string, unknown> | null;
  if (Object.keys(u).length !== 2 || typeof r !== "object" || r === null || typeof r.subject !== "string" || typeof r.reason !== "string" || typeof r.detail !== "string")
    return fail(line, "InvalidEntry", 'a refused line must be exactly {"seq":N,"refused":{"subject","reason","detail"}}');
  return Result.succeed({ seq, refused: { subject: r.subject, reason: r.reason, detail: r.detail } });
};

/** A blank line (e.g. after the final newline) carries nothing and is skipped. */
export const isBlank = (text: string): boolean => text.trim().length === 0;

const parseJson = (text: string, line: number): Result.Result<unknown, LogParseError> => {
  try {
    return Result.succeed(JSON.parse(text) as unknown);
  } catch (err) {
    return fail(line, "MalformedJson", err instanceof Error ? err.message : String(err));
  }
};

export const parseLogHeader = (text: string, line = 1): Result.Result<LogHeader, LogParseError> => {
  const json = parseJson(text, line);
  if (Result.isFailure(json)) return fail(line, "BadHeader", `header is not JSON: ${json.failure.detail}`);
  const h = json.success;
  if (typeof h !== "object" || h === null || Array.isArray(h)) return fail(line, "BadHeader", "header is not a JSON object");
  const { swarmline, format, run, last } = h as Record<string, unknown>;
  if (swarmline !== "log") return fail(line, "BadHeader", 'not a Swarmline log: the header must say {"swarmline":"log",...}');
  if (format !== LOG_FORMAT && format !== LOG_FORMAT_COUNTED)
    return fail(line, "BadHeader", `unsupported log format ${String(format)} (this build reads ${LOG_FORMAT} and ${LOG_FORMAT_COUNTED})`);
  if (typeof run !== "string" || !isToken(run)) return fail(line, "BadHeader", "header run must be a subject token");
  if (format === LOG_FORMAT) {
    if (Object.keys(h).length !== 3) return fail(line, "BadHeader", "header has unknown fields");
    return Result.succeed({ swarmline: "log", format: LOG_FORMAT, run });
  }
  if (typeof last !== "number" || !Number.isSafeInteger(last) || last < 0) return fail(line, "BadHeader", "format 2 header last must be a non-negative integer");
  if (Object.keys(h).length !== 4) return fail(line, "BadHeader", "header has unknown fields");
  return Result.succeed({ swarmline: "log", format: LOG_FORMAT_COUNTED, run, last });
};

/** Reads an already-parsed line value as an entry (the verifier parses once and calls this). */
export const readLogEntry = (u: unknown, line: number): Result.Result<LogEntry, LogParseError> => {
  if (typeof u !== "object" || u === null || Array.isArray(u)) return fail(line, "InvalidEntry", "line is not a JSON object");
  const { seq, event } = u as Record<string, unknown>;
  if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 1) return fail(line, "InvalidEntry", "line seq must be a positive integer");
  if (Object.keys(u).length !== 2 || event === undefined) return fail(line, "InvalidEntry", 'line must be exactly {"seq":N,"event":{...}}');
  const e = readEnvelope(event);
  if (typeof e === "string") return fail(line, "InvalidEnvelope", e);
  return Result.succeed({ seq, event: e });
};

export const parseLogLine = (text: string, line: number): Result.Result<LogEntry, LogParseError> => {
  const json = parseJson(text, line);
  return Result.isFailure(json) ? Result.fail(json.failure) : readLogEntry(json.success, line);
};

/**
 * Parses a whole log (shape only: no hashes or signatures; see verify.ts for that), skipping
 * blank lines; refused messages' lines are returned apart from the events. Line numbers count every line given, blank ones included.
 */
export const parseLogLines = (
  lines: Iterable<string>,
): Result.Result<{ readonly header: LogHeader; readonly entries: LogEntry[]; readonly refused: RefusedLine[] }, LogParseError> => {
  let header: LogHeader | undefined;
  const entries: LogEntry[] = [];
  const refused: RefusedLine[] = [];
  let n = 0;
  for (const text of lines) {
    n += 1;
    if (isBlank(text)) continue;
    if (header === undefined) {
      const h = parseLogHeader(text, n);
      if (Result.isFailure(h)) return Result.fail(h.failure);
      header = h.success;
      continue;
    }
    const json = parseJson(text, n);
    if (Result.isFailure(json)) return Result.fail(json.failure);
    const r = readRefusedLine(json.success, n);
    if (r !== undefined) {
      if (Result.isFailure(r)) return Result.fail(r.failure);
      refused.push(r.success);
      continue;
    }
    const entry = readLogEntry(json.success, n);
    if (Result.isFailure(entry)) return Result.fail(entry.failure);
    entries.push(entry.success);
  }
  if (header === undefined) return fail(Math.max(n, 1), "BadHeader", "the log is empty: no header line");
  return Result.succeed({ header, entries, refused });
};

/** Splits file text into lines (LF or CRLF) for the functions above. */
export const splitLines = (text: string): string[] => text.split(/\r?\n/);
