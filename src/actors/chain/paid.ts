// Payments the chain took whose WeightsSubmitted is not yet in the run's log: one small JSON file,
// written right after the chain took a payment and before its record is appended, and dropped once
// the record is in. A payout whose record failed (the log unreachable, the process killed between
// the two) is recorded by the next `payout --record` from here, without paying the window twice.
import { existsSync, readFileSync, rmSync } from "node:fs";
import type { SwarmPayloads } from "../../events/swarm/index.js";
import { writeEntries } from "./journal.js";

export interface UnrecordedPayment {
  /** The validator's hotkey address (the signer of the payment). */
  readonly hotkey: string;
  /** The WeightsProposed the payment carried out (the record's cause). */
  readonly proposal: string;
  /** The WeightsSubmitted payload as the chain took it. */
  readonly payload: SwarmPayloads["WeightsSubmitted"];
}

export const readUnrecorded = (path: string): UnrecordedPayment[] => {
  if (!existsSync(path)) return [];
  const raw: unknown = JSON.parse(readFileSync(path, "utf8"));
  if (!Array.isArray(raw)) throw new Error(`payments file ${path} is not a JSON array`);
  return raw as UnrecordedPayment[];
};

const same = (e: UnrecordedPayment, hotkey: string, netuid: number, window: number): boolean =>
  e.hotkey === hotkey && e.payload.netuid === netuid && e.payload.window === window;

/** The payment of `window` on `netuid` by `hotkey` that is still to be recorded, if any. */
export const findUnrecorded = (path: string, hotkey: string, netuid: number, window: number): UnrecordedPayment | undefined =>
  readUnrecorded(path).find((e) => same(e, hotkey, netuid, window));

/** Adds (or replaces, for the same hotkey, subnet and window) a payment whose record is to follow. */
export const putUnrecorded = (path: string, e: UnrecordedPayment): void =>
  writeEntries(path, [...readUnrecorded(path).filter((x) => !same(x, e.hotkey, e.payload.netuid, e.payload.window)), e]);

/** Forgets a payment once its record is in the log (the file goes with its last entry). */
export const dropUnrecorded = (path: string, hotkey: string, netuid: number, window: number): void => {
  if (!existsSync(path)) return;
  const rest = readUnrecorded(path).filter((x) => !same(x, hotkey, netuid, window));
  if (rest.length > 0) writeEntries(path, rest);
  else rmSync(path, { force: true });
};
