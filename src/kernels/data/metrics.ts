// Validation figures: bits per byte from a mean cross-entropy, and the unigram (byte-frequency)
// baseline a model must beat to have learned anything beyond letter frequencies.

/** Bits per byte from mean cross-entropy in nats per token (byte tokens: token = byte). */
export const bitsPerByte = (meanNats: number, bytesPerToken = 1): number => meanNats / Math.LN2 / bytesPerToken;

/** Byte frequencies of `text` with add-one smoothing, as probabilities summing to 1. */
export const unigramModel = (text: Uint8Array): Float64Array => {
  const counts = new Float64Array(256).fill(1);
  for (let i = 0; i < text.length; i++) counts[text[i] ?? 0] = (counts[text[i] ?? 0] ?? 0) + 1;
  const total = text.length + 256;
  return counts.map((c) => c / total);
};

/** Cross-entropy in bits per byte of `text` under byte probabilities `p` (summed in order). */
export const crossEntropyBits = (p: Float64Array, text: Uint8Array): number => {
  let bits = 0;
  for (let i = 0; i < text.length; i++) bits -= Math.log2(p[text[i] ?? 0] ?? 0);
  return bits / text.length;
};

/** Unigram baseline: frequencies from the train split, evaluated on the validation split. */
export const unigramBpb = (train: Uint8Array, validation: Uint8Array): number => crossEntropyBits(unigramModel(train), validation);

/** Unigram bits per byte over exactly the targets of some batches (compares with a model's val bpb). */
export const unigramBpbOfTargets = (p: Float64Array, targets: ReadonlyArray<Int32Array | BigInt64Array>): number => {
  let bits = 0;
  let n = 0;
  for (const t of targets) for (let i = 0; i < t.length; i++) {
    bits -= Math.log2(p[Number(t[i] ?? 0)] ?? 0);
    n++;
  }
  return bits / n;
};
