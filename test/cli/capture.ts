// Captures what a CLI command writes to stdout and stderr, reset before each test of the file or
// describe block that calls it (the commands print through process.stdout/stderr.write).
import { afterEach, beforeEach, vi } from "vitest";

export const captureOutput = (): { out: string; err: string } => {
  const io = { out: "", err: "" };
  beforeEach(() => {
    io.out = "";
    io.err = "";
    vi.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => {
      io.out += String(s);
      return true;
    });
    vi.spyOn(process.stderr, "write").mockImplementation((s: string | Uint8Array) => {
      io.err += String(s);
      return true;
    });
  });
  afterEach(() => vi.restoreAllMocks());
  return io;
};
