// The byte-level tokenizer: a token is one UTF-8 byte, so the vocabulary is 256 and loss per
// token is loss per byte (bits per byte needs no conversion factor).

/** Vocabulary size of the byte tokenizer. */
export const BYTE_VOCAB = 256;

/** UTF-8 bytes of a string: its tokens. */
export const encodeText = (text: string): Uint8Array => new TextEncoder().encode(text);

/** Text of a token sequence (invalid UTF-8 becomes U+FFFD, as a sampler may emit half a character). */
export const decodeTokens = (tokens: ArrayLike<number>): string => new TextDecoder().decode(Uint8Array.from(tokens));
