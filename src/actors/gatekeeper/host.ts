// The gatekeeper of a secured run: answers join requests on subjects.join(run), admits a
// registered hotkey's certified session key as an nkey user with its role's permissions, rewrites
// the server's authorization and reloads it (connected clients stay connected). A kicked miner is
// removed the same way, and the server then disconnects it; so is a member a fresher registry no
// longer admits (a hotkey deregistered from the subnet).
import { subjects } from "../../events/subjects.js";
import { admit, type Admission, type JoinRole, type Member, type Registry, revokedMembers } from "../../machines/gatekeeper/index.js";
import { nodeCrypto } from "../identity/index.js";
import type { NatsConnection } from "../nats/connection.js";
import { nkeyOfEd25519 } from "../nats/nkey.js";
import { authorizationConf, type NatsUser } from "../nats/permissions.js";

export interface GatekeeperOptions {
  /** An admin connection (it answers on every run's join subject). */
  readonly nc: NatsConnection;
  /** Who may join now: the subnet's metagraph snapshot, or the allow-list. */
  readonly registry: () => Registry;
  /**
   * Brings `registry()` up to date when a hotkey it lacks asks to join, so a miner that registered
   * a moment ago is admitted without waiting for the next scheduled read (the metagraph source
   * rate-limits it). Members the fresher registry no longer admits are removed. Absent: refused at once.
   */
  readonly recheck?: () => Promise<void>;
  /** Users that are always there (the orchestrator's and the gatekeeper's admin keys). */
  readonly fixed: readonly NatsUser[];
  /** Installs an authorization block: write the server's auth file and reload it. */
  readonly install: (conf: string) => Promise<void> | void;
  /** Every decision, for the operator's log. */
  readonly onDecision?: (a: Admission) => void;
  /**
   * Follow the facts of each run's admitted orchestrator and remove a miner it kicks (the server
   * then disconnects it). Only that orchestrator may publish on its subject, so its MinerKicked is
   * taken as it stands. A host that already folds the run (the sim) removes kicks itself.
   */
  readonly followKicks?: boolean;
  /** A kick was applied. */
  readonly onKick?: (run: string, miner: string) => void;
  /** A member was removed because the registry no longer admits it in its role. */
  readonly onRevoke?: (m: Member) => void;
}

/** Reply to a join request. */
export type JoinReply = { readonly ok: true; readonly nkey: string } | { readonly ok: false; readonly reason: string; readonly detail: string };

export interface Gatekeeper {
  /** The users the server admits now (fixed ones first). */
  users(): readonly NatsUser[];
  /** Removes a hotkey's user from a run (a kick); a no-op for one never admitted. */
  remove(run: string, hotkey: string): Promise<void>;
  /**
   * Removes every member `registry` no longer admits in the role it joined as (one reload for
   * all) and returns them: how a metagraph refresh drops a deregistered hotkey.
   */
  retain(registry: Registry): Promise<readonly Member[]>;
  stop(): Promise<void>;
}

const roleOnBus = (r: JoinRole): NatsUser["role"] => (r === "orchestrator" ? "admin" : r);

export const startGatekeeper = async (o: GatekeeperOptions): Promise<Gatekeeper> => {
  /** Admitted users by run and hotkey: a new session of the same hotkey replaces its old key. */
  const admitted = new Map<string, NatsUser>();
  const keyOf = (run: string, hotkey: string): string => `${run}|${hotkey}`;
  const users = (): NatsUser[] => [...o.fixed, ...admitted.values()];
  let installing: Promise<void> = Promise.resolve();
  const reinstall = (): Promise<void> => (installing = installing.then(() => o.install(authorizationConf(users(), { joiner: true }))));
  await reinstall();
  /** The role a member joined as (an orchestrator is the run's admin on the bus). */
  const memberOf = (u: NatsUser): Member => ({ run: u.run ?? "", hotkey: u.actor ?? "", role: u.role === "admin" ? "orchestrator" : u.role });
  const retain = async (registry: Registry): Promise<readonly Member[]> => {
    const gone = revokedMembers([...admitted.values()].map(memberOf), registry);
    if (gone.length === 0) return gone;
    for (const m of gone) admitted.delete(keyOf(m.run, m.hotkey));
    await reinstall();
    for (const m of gone) o.onRevoke?.(m);
    return gone;
  };
  const decide = (run: string, raw: unknown): Admission => admit(nodeCrypto, run, o.registry(), raw);

  const sub = o.nc.subscribe(subjects.joinAll);
  const loop = (async () => {
    for await (const m of sub) {
      let raw: unknown;
      try {
        raw = m.json();
      } catch {
        raw = undefined;
      }
      const run = subjects.joinRun(m.subject);
      if (run === undefined) continue;
      let a = decide(run, raw);
      if (a._tag === "Refused" && a.refusal._tag === "NotRegistered" && o.recheck !== undefined) {
        // Only a request whose certificate holds gets here, so a re-read costs a forger a real signature.
        await o.recheck().catch(() => undefined);
        a = decide(run, raw);
        await retain(o.registry());
      }
      o.onDecision?.(a);
      let reply: JoinReply;
      if (a._tag === "Refused") reply = { ok: false, reason: a.refusal._tag, detail: a.refusal.detail };
      else {
        const nkey = nkeyOfEd25519(a.sessionKey);
        admitted.set(keyOf(run, a.hotkey), { nkey, role: roleOnBus(a.role), actor: a.hotkey, run });
        await reinstall();
        reply = { ok: true, nkey };
      }
      m.respond(JSON.stringify(reply));
    }
  })();
  loop.catch(() => undefined);

  const kicks = o.followKicks === true ? o.nc.subscribe("swl.*.f.*") : undefined;
  const kickLoop = (async () => {
    if (kicks === undefined) return;
    for await (const m of kicks) {
      const [, run, , actor] = m.subject.split(".");
      if (run === undefined || actor === undefined) continue;
      const by = admitted.get(keyOf(run, actor));
      if (by?.role !== "admin") continue; // not this run's orchestrator
      let e: { type?: unknown; actor?: unknown; payload?: { miner?: unknown } };
      try {
        e = m.json();
      } catch {
        continue;
      }
      const miner = e.payload?.miner;
      if (e.type !== "MinerKicked" || e.actor !== actor || typeof miner !== "string") continue;
      if (admitted.has(keyOf(run, miner))) {
        admitted.delete(keyOf(run, miner));
        await reinstall();
        o.onKick?.(run, miner);
      }
    }
  })();
  kickLoop.catch(() => undefined);

  return {
    users,
    remove: async (run, hotkey) => {
      if (!admitted.delete(keyOf(run, hotkey))) return;
      await reinstall();
    },
    retain,
    stop: async () => {
      sub.unsubscribe();
      kicks?.unsubscribe();
      await loop.catch(() => undefined);
      await kickLoop.catch(() => undefined);
    },
  };
};
