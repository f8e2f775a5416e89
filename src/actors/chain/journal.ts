// The validator's reveal journal: a small JSON file holding each commit's weights and salt until
// they are revealed. Written BEFORE the commit is sent (a crash after sending must not lose the
// salt, or the commit can never be revealed) and rewritten whole through a rename, so a reader
// never sees half a file.
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";

export interface PendingReveal {
  readonly netuid: number;
  readonly hotkey: string;
  readonly window: number;
  readonly uids: readonly number[];
  readonly values: readonly number[];
  readonly salt: readonly number[];
  readonly versionKey: number;
  readonly commitHash: string;
  /** The commit's extrinsic hash and block, once the chain took it. */
  readonly extrinsic?: string;
  readonly block?: number;
}

export const readJournal = (path: string): PendingReveal[] => {
  if (!existsSync(path)) return [];
  const raw: unknown = JSON.parse(readFileSync(path, "utf8"));
  if (!Array.isArray(raw)) throw new Error(`reveal journal ${path} is not a JSON array`);
  return raw as PendingReveal[];
};

/** Writes `entries` as a JSON array through a rename, so a reader never sees half a file (mode 0600). */
export const writeEntries = (path: string, entries: readonly unknown[]): void => {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(entries, null, 1)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
};
const write = writeEntries;

/** Adds or replaces (by commit hash) one pending reveal. */
export const putPending = (path: string, e: PendingReveal): void =>
  write(path, [...readJournal(path).filter((x) => x.commitHash !== e.commitHash), e]);

/** Forgets a commit: revealed, or never accepted by the chain. */
export const dropPending = (path: string, commitHash: string): void =>
  write(path, readJournal(path).filter((x) => x.commitHash !== commitHash));
