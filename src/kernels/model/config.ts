// The GPT configuration and how its layers split into pipeline stages, with the IOTA bottleneck
// width at stage boundaries. Pure data and arithmetic: no graphs, no ORT.

/** A GPT decoder, its pipeline split and its microbatch shape (graphs have static shapes). */
export type GptConfig = {
  /** Vocabulary size (256 for the byte-level tokenizer). */
  readonly vocab: number;
  /** Context length T. */
  readonly seq: number;
  readonly dModel: number;
  readonly nHead: number;
  readonly nLayer: number;
  /** Number of pipeline stages S (1 = monolithic); requires nLayer >= S. */
  readonly stages: number;
  /** IOTA bottleneck width b at every stage boundary, or null for uncompressed d_model. */
  readonly bottleneck: number | null;
  /** Sequences per microbatch B. */
  readonly batch: number;
  /** LayerNorm epsilon. */
  readonly eps: number;
  /** Seed of the deterministic parameter init. */
  readonly seed: number;
};

/**
 * Default: a small byte-level GPT (~0.9M parameters) that trains 300 steps in a few minutes
 * on 2 cores. Monolithic and uncompressed; see COMPRESSED_CONFIG for the swarm default.
 */
export const DEFAULT_CONFIG: GptConfig = {
  vocab: 256,
  seq: 64,
  dModel: 128,
  nHead: 4,
  nLayer: 4,
  stages: 1,
  bottleneck: null,
  batch: 16,
  eps: 1e-5,
  seed: 1,
};

/**
 * Suggested compressed pipeline: 2 stages, bottleneck b = 3 on d_model = 128, so a boundary
 * carries d/b ≈ 42.7x fewer values; int8 on the wire (4x) makes ≈170x before the codec's
 * overhead, ≈168x after it when the boundary is encoded under `boundaryWireDims` (one fp16
 * scale per sequence). Per-token rows would spend 2 of every b+2 bytes on scales (≈102x).
 * Measured (fp32, no wire quantization, 300 steps, one seed; see the helper's report): val bpb
 * 3.23 uncompressed vs 3.32-3.43 with b = 4..3, i.e. a 1.03-1.06x penalty.
 */
export const COMPRESSED_CONFIG: GptConfig = { ...DEFAULT_CONFIG, stages: 2, bottleneck: 3 };

/** Tokens per microbatch N = B·T (rows of every activation matrix). */
export const tokens = (c: GptConfig): number => c.batch * c.seq;

/** The blocks [from, to) held by stage s: nLayer split as evenly as possible, in order. */
export const stageLayers = (c: GptConfig, s: number): { readonly from: number; readonly to: number } => ({
  from: Math.floor((s * c.nLayer) / c.stages),
  to: Math.floor(((s + 1) * c.nLayer) / c.stages),
});

/** Width of the activation crossing the boundary after stage s (b with a bottleneck, else d). */
export const boundaryWidth = (c: GptConfig): number => c.bottleneck ?? c.dModel;

/** Shape [N, width] of the activation (and its gradient) between stage s and s+1. */
export const boundaryShape = (c: GptConfig): readonly [number, number] => [tokens(c), boundaryWidth(c)];

/**
 * Dims to hand the wire codec for a boundary tensor [N, width]: [B, T·width], the same bytes
 * row-major, so int8 per-row scales are per sequence rather than per b-wide token.
 */
export const boundaryWireDims = (c: GptConfig): readonly [number, number] => [c.batch, c.seq * boundaryWidth(c)];

/** fp32 bytes an uncompressed boundary activation would take: N · d_model · 4. */
export const uncompressedBoundaryBytes = (c: GptConfig): number => tokens(c) * c.dModel * 4;

/** Throws a RangeError naming the first inconsistent field. */
export const validateConfig = (c: GptConfig): GptConfig => {
  const ints: (keyof GptConfig)[] = ["vocab", "seq", "dModel", "nHead", "nLayer", "stages", "batch"];
  for (const k of ints) {
    const v = c[k];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1) throw new RangeError(`GptConfig.${k} must be a positive integer, got ${String(v)}`);
  }
  if (c.dModel % c.nHead !== 0) throw new RangeError(`GptConfig.dModel (${c.dModel}) must be divisible by nHead (${c.nHead})`);
  if (c.nLayer < c.stages) throw new RangeError(`GptConfig.nLayer (${c.nLayer}) must be >= stages (${c.stages})`);
  if (c.bottleneck !== null && (!Number.isInteger(c.bottleneck) || c.bottleneck < 1 || c.bottleneck > c.dModel)) {
    throw new RangeError(`GptConfig.bottleneck must be null or an integer in [1, dModel], got ${c.bottleneck}`);
  }
  if (!(c.eps > 0)) throw new RangeError(`GptConfig.eps must be > 0`);
  return c;
};
