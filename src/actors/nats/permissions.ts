// Per-actor NATS permissions for a secured run on nats-server 2.9.10 (no auth_callout): one account,
// one nkey user per actor, each confined to its own name. Rendered as an `authorization` block that
// the server includes, so adding or removing a user is a file rewrite and a reload (SIGHUP).
//
// What 2.9.10 can and cannot pin (DESIGN.md, "NATS 2.9.10 authorization"):
// - A miner publishes only its own fact subject, data subjects that name it as sender, the JetStream
//   API calls its consumers and reads need, and its own inbox prefix; it cannot create, change,
//   purge or delete streams, nor delete messages.
// - Consumer filters travel in the request body, which permissions cannot see before 2.10: a miner
//   may create a consumer that reads any subject of a stream. Facts are public by design (anyone
//   audits them); data (compressed activations) is readable by every member of the run.
import { streams, subjects } from "../../events/subjects.js";

export type NatsRole = "admin" | "miner" | "validator" | "auditor";

export interface NatsUser {
  /** The user's nkey (`U...`: its ed25519 session key, see nkey.ts). */
  readonly nkey: string;
  readonly role: NatsRole;
  /** The actor's name in subjects (its hotkey address); not needed for admin. */
  readonly actor?: string;
  /** The run a miner or validator was admitted to (its certificate names it); not needed for admin. */
  readonly run?: string;
}

export interface Permissions {
  readonly publish: { readonly allow: readonly string[] };
  readonly subscribe: { readonly allow: readonly string[] };
  /** May answer a request it received once, on the request's reply subject (a refill request's). */
  readonly allowResponses?: boolean;
}

/** The inbox prefix an actor's connection uses (and the only inbox it may read). */
export const inboxPrefix = (actor: string): string => `_INBOX_${actor}`;

/** What a member of run `run` may do with the run's streams besides writing its own subjects. */
const memberApi = (run: string): string[] => {
  const own = [streams.facts(run), streams.refills(run), streams.data(run), streams.deadLetter(run), streams.blobs(run)];
  return [
    "$JS.API.INFO",
    ...own.flatMap((s) => [
      `$JS.API.STREAM.INFO.${s}`,
      `$JS.API.STREAM.MSG.GET.${s}`,
      `$JS.API.DIRECT.GET.${s}.>`,
      // Consumers (ephemeral ordered ones for reading, a named one per miner session for its data).
      `$JS.API.CONSUMER.CREATE.${s}`,
      `$JS.API.CONSUMER.CREATE.${s}.>`,
      `$JS.API.CONSUMER.DURABLE.CREATE.${s}.>`,
      `$JS.API.CONSUMER.INFO.${s}.>`,
      `$JS.API.CONSUMER.MSG.NEXT.${s}.>`,
      `$JS.API.CONSUMER.DELETE.${s}.>`,
      `$JS.ACK.${s}.>`,
    ]),
    "$JS.API.STREAM.NAMES",
    "$JS.API.STREAM.LIST",
    "$JS.API.CONSUMER.NAMES.>",
  ];
};

/** The permissions of one user (a member's are confined to its run). */
export const permissionsOf = (u: NatsUser): Permissions => {
  if (u.role === "admin") return { publish: { allow: [">"] }, subscribe: { allow: [">"] } };
  const { actor, run } = u;
  if (actor === undefined || run === undefined) throw new Error(`a ${u.role} user needs its actor name and run`);
  // An auditor reads: the run's streams through the API, and it may ask producers for lost facts.
  if (u.role === "auditor") return { publish: { allow: [subjects.refillRequest(run), ...memberApi(run)] }, subscribe: { allow: [`${inboxPrefix(actor)}.>`] } };
  // Its own facts, its own refills of them, and its own copies of blobs (the blob stream takes each subject once);
  // it asks the run's producers for refills and answers their requests from its journal.
  const publish = [subjects.facts(run, actor), subjects.refillsFrom(run, actor), subjects.refillRequest(run), subjects.blobsFrom(run, actor), ...memberApi(run)];
  // Miners send activations and gradients; a validator only reads them.
  if (u.role === "miner") publish.push(subjects.dataFrom(run, actor));
  return { publish: { allow: publish }, subscribe: { allow: [`${inboxPrefix(actor)}.>`, subjects.refillRequest(run)] }, allowResponses: true };
};

const list = (xs: readonly string[]): string => `[${xs.map((x) => JSON.stringify(x)).join(", ")}]`;

/** The user an unauthenticated client is (no_auth_user): it may only ask the gatekeeper to join. */
export const JOINER = "joiner";
/** The inbox prefix of unauthenticated clients (join replies are not secret: ok, or why not). */
export const JOINER_INBOX = "_INBOX_join";

/**
 * The `authorization { users = [...] }` block for a run's users, in nats-server's config syntax,
 * and, with `joiner`, the unauthenticated user that may only publish join requests. Users are
 * sorted by nkey so the same set renders the same file (a reload changes only what changed).
 */
export const authorizationConf = (users: readonly NatsUser[], o: { readonly joiner?: boolean } = {}): string => {
  const lines = ["authorization {", "  users = ["];
  if (o.joiner === true)
    lines.push(`    { user: ${JOINER}, permissions: { publish: { allow: ${list([subjects.joinAll])} }, subscribe: { allow: ${list([`${JOINER_INBOX}.>`])} } } }`);
  for (const u of [...users].sort((a, b) => (a.nkey < b.nkey ? -1 : a.nkey > b.nkey ? 1 : 0))) {
    if (!/^U[A-Z2-7]{55}$/.test(u.nkey)) throw new Error(`not an nkey user public key: ${JSON.stringify(u.nkey)}`);
    const p = permissionsOf(u);
    const responses = p.allowResponses === true ? ", allow_responses: true" : "";
    lines.push(`    { nkey: ${u.nkey}, permissions: { publish: { allow: ${list(p.publish.allow)} }, subscribe: { allow: ${list(p.subscribe.allow)} }${responses} } }`);
  }
  lines.push("  ]", "}");
  if (o.joiner === true) lines.push(`no_auth_user: ${JOINER}`);
  lines.push("");
  return lines.join("\n");
};
