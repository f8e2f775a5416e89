// The exported log format: a header line naming the run, then one line per event in stream order
// with its stream sequence, so a removed, duplicated or reordered event shows as a broken sequence.
import { Result } from "effect";
import type { Envelope } from "./envelope.js";
import { readEnvelope } from "./shape.js";
import { isToken } from "./subjects.js";

export const LOG_FORMAT = 1;

/** The first line of every exported log. */
export interface LogHeader {
  readonly swarmline: "log";
  readonly format: typeof LOG_FORMAT;
  readonly run: string;
}

/** One event line: the facts stream sequence and the envelope as published. */
export interface LogEntry {
  readonly seq: number;
  readonly event: Envelope;
}

/** A line that is not part of a well-formed log; `line` is 1-based (the header is line 1). */
export interface LogParseError {
  readonly _tag: "LogParseError";
  readonly line: number;
  readonly reason: "BadHeader" | "MalformedJson" | "InvalidEntry" | "InvalidEnvelope";
  readonly detail: string;
}

const fail = (line: number, reason: LogParseError["reason"], detail: string): Result.Result<never, LogParseError> =>
  Result.fail({ _tag: "LogParseError", line, reason, detail });

export const formatLogHeader = (run: string): string => JSON.stringify({ swarmline: "log", format: LOG_FORMAT, run });

/** One event line, without the trailing newline. */
export const formatLogLine = (seq: number, event: Envelope): string => JSON.stringify({ seq, event });

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
  const { swarmline, format, run } = h as Record<string, unknown>;
  if (swarmline !== "log") return fail(line, "BadHeader", 'not a Swarmline log: the header must say {"swarmline":"log",...}');
  if (format !== LOG_FORMAT) return fail(line, "BadHeader", `unsupported log format ${String(format)} (this build reads ${LOG_FORMAT})`);
  if (typeof run !== "string" || !isToken(run)) return fail(line, "BadHeader", "header run must be a subject token");
  if (Object.keys(h).length !== 3) return fail(line, "BadHeader", "header has unknown fields");
  return Result.succeed({ swarmline: "log", format: LOG_FORMAT, run });
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
 * blank lines. Line numbers count every line given, blank ones included.
 */
export const parseLogLines = (lines: Iterable<string>): Result.Result<{ readonly header: LogHeader; readonly entries: LogEntry[] }, LogParseError> => {
  let header: LogHeader | undefined;
  const entries: LogEntry[] = [];
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
    const entry = parseLogLine(text, n);
    if (Result.isFailure(entry)) return Result.fail(entry.failure);
    entries.push(entry.success);
  }
  if (header === undefined) return fail(Math.max(n, 1), "BadHeader", "the log is empty: no header line");
  return Result.succeed({ header, entries });
};

/** Splits file text into lines (LF or CRLF) for the functions above. */
export const splitLines = (text: string): string[] => text.split(/\r?\n/);
