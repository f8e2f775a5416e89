// The swarm training vocabulary: every fact type of a swarm run, the registry definitions, and the
// typed `SwarmFact` union that the swarm machines fold.
import type { Envelope } from "../envelope.js";
import type { EventDefinition } from "../registry.js";
import * as M from "./membership.js";
import * as G from "./merge.js";
import * as P from "./pipeline.js";
import * as R from "./run.js";
import * as S from "./scoring.js";

export type { MergeInterval, OuterStep, Schedule, StageSpec, SwarmRunConfig } from "./run.js";
export type { Neuron, SpotTarget } from "./scoring.js";

/** The latest definition of every swarm fact type. */
const latest = [
  R.SwarmRunStarted, R.ClockTicked, R.RunCompleted,
  M.MinerJoined, M.StageAssigned, M.WeightsLoaded, M.HeartbeatSent, M.MinerTimedOut, M.MinerKicked, M.MinerLeft,
  P.MicrobatchLeased, P.ActivationsForwarded, P.LossComputed, P.GradientsReturned, P.BackwardCompleted,
  P.OptimizerStepped, P.MicrobatchCompleted, P.MicrobatchReissued,
  G.MergeStarted, G.PartitionsSent, G.MergeSealed, G.PartitionReduced, G.PartitionAccepted, G.PartitionDisputed,
  G.PartitionReassigned, G.DisputeSettled, G.MergeCompleted,
  S.ScoringStarted, S.SpotChecksDrawn, S.SpotCheckPassed, S.SpotCheckFailed, S.WeightsOpened, S.ContributionScored, S.MinerFlagged, S.WeightsProposed, S.WeightsSubmitted,
] as const;

/** Every swarm event definition, old versions (with their upcasters) first, for the EventRegistry. */
export const swarmEvents: readonly EventDefinition[] = [
  R.SwarmRunStartedV1Def as EventDefinition, R.SwarmRunStartedV2Def as EventDefinition, R.SwarmRunStartedV3Def as EventDefinition, R.SwarmRunStartedV4Def as EventDefinition, R.SwarmRunStartedV5Def as EventDefinition, M.WeightsLoadedV1Def as EventDefinition,
  P.ActivationsForwardedV1Def as EventDefinition, P.LossComputedV1Def as EventDefinition, P.OptimizerSteppedV1Def as EventDefinition,
  ...(latest as readonly EventDefinition[]),
];

/** Deciders see payloads upcast to the latest definitions. */
type Def = (typeof latest)[number];
/** Payload type of each swarm fact, by type name (latest version). */
export type SwarmPayloads = { [D in Def as D["type"]]: D extends EventDefinition<string, infer Pl> ? Pl : never };
export type SwarmEventType = keyof SwarmPayloads;

/** Latest version of each swarm fact type (SwarmRunStarted 5; WeightsLoaded, ActivationsForwarded, LossComputed, OptimizerStepped 2; the rest 1); drafts carry it as `v`. */
export const swarmVersion = (type: SwarmEventType): number =>
  Math.max(...swarmEvents.filter((d) => d.type === type).map((d) => d.v));

/**
 * A fact as the swarm machines see it: the envelope fields decisions read (id, actor, actor-local
 * seq, logical step, causes) and a decoded payload. An Envelope whose payload was decoded by the
 * registry is one (see `asSwarmFact`).
 */
export type FactOf<T extends SwarmEventType> = {
  readonly id: string;
  readonly type: T;
  readonly actor: string;
  readonly seq: number;
  readonly step: number;
  readonly cause: readonly string[];
  readonly payload: SwarmPayloads[T];
  /** The envelope's hash (its link in the actor's chain) when the fact was read from a log: a validator's beacon. */
  readonly hash?: string;
};
export type SwarmFact = { [T in SwarmEventType]: FactOf<T> }[SwarmEventType];

/** Types the orchestrator records; anyone else recording one is ignored by the machines. */
export const ORCHESTRATOR_TYPES: ReadonlySet<SwarmEventType> = new Set<SwarmEventType>([
  "SwarmRunStarted", "ClockTicked", "RunCompleted", "StageAssigned", "MinerTimedOut", "MinerKicked",
  "MicrobatchLeased", "MicrobatchCompleted", "MicrobatchReissued", "MergeStarted", "MergeSealed",
  "PartitionAccepted", "PartitionDisputed", "PartitionReassigned", "DisputeSettled", "MergeCompleted",
]);

export const isSwarmType = (t: string): t is SwarmEventType => swarmEvents.some((d) => d.type === t);

/**
 * Views an envelope whose payload has already been decoded (EventRegistry.decode, upcast to the
 * latest version) as a SwarmFact; undefined for a non-swarm type.
 */
export const asSwarmFact = (e: Envelope, decodedPayload: unknown): SwarmFact | undefined =>
  isSwarmType(e.type)
    ? ({ id: e.id, type: e.type, actor: e.actor, seq: e.seq, step: e.step, cause: e.cause, payload: decodedPayload, hash: e.hash } as SwarmFact)
    : undefined;
