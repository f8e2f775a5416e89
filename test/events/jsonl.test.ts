import { Result } from "effect";
import { describe, expect, it } from "vitest";
import { formatLogHeader, formatLogLine, parseLogLine, parseLogLines, splitLines } from "../../src/events/jsonl.js";
import { small } from "./support.js";

const reason = (r: Result.Result<unknown, { reason: string; line: number }>) => (Result.isFailure(r) ? `${r.failure.reason}@${r.failure.line}` : "ok");

describe("JSONL log format", () => {
  it("round-trips a run: header, then entries in stream order", () => {
    const text = `${small.lines.join("\n")}\n`;
    const r = parseLogLines(splitLines(text));
    expect(Result.isSuccess(r) && r.success.header).toEqual({ swarmline: "log", format: 1, run: "t" });
    expect(Result.isSuccess(r) && r.success.entries.map((e) => e.event)).toEqual(small.events);
    expect(Result.isSuccess(r) && r.success.entries.map((e) => e.seq)).toEqual(small.events.map((_, i) => i + 1));
  });

  it("writes one line per event with the stream seq first", () => {
    const e = small.events[0];
    if (e === undefined) throw new Error("no events");
    expect(formatLogLine(7, e).startsWith('{"seq":7,"event":{"id":')).toBe(true);
    expect(formatLogHeader("t")).toBe('{"swarmline":"log","format":1,"run":"t"}');
    expect(formatLogHeader("t", 7)).toBe('{"swarmline":"log","format":2,"run":"t","last":7}');
    const counted = parseLogLines([formatLogHeader("t", 0)]);
    expect(Result.isSuccess(counted) && counted.success.header).toEqual({ swarmline: "log", format: 2, run: "t", last: 0 });
    expect(reason(parseLogLines(['{"swarmline":"log","format":2,"run":"t"}']))).toBe("BadHeader@1");
  });

  it("names the line and the reason of each malformed input", () => {
    expect(reason(parseLogLines([]))).toBe("BadHeader@1");
    expect(reason(parseLogLines(['{"swarmline":"log","format":1,"run":"a.b"}']))).toBe("BadHeader@1");
    expect(reason(parseLogLines([formatLogHeader("t"), "", "[1,2"]))).toBe("MalformedJson@3");
    expect(reason(parseLogLine('{"seq":0,"event":{}}', 4))).toBe("InvalidEntry@4");
    expect(reason(parseLogLine('{"seq":1,"event":{},"x":1}', 4))).toBe("InvalidEntry@4");
    expect(reason(parseLogLine('{"seq":1,"event":{"id":"a"}}', 5))).toBe("InvalidEnvelope@5");
  });
});
