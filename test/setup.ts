// Property tests run with a fixed fast-check seed, so CI is reproducible; set FC_SEED to another
// number to explore elsewhere, or FC_SEED=random for a fresh seed each run (printed on failure).
import fc from "fast-check";

const seed = process.env.FC_SEED ?? "20261125";
if (seed !== "random") fc.configureGlobal({ seed: Number(seed) });
