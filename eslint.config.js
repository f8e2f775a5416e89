// Lint keeps the layering of STYLE.md: NATS client imports only in the NATS adapter files,
// onnxruntime-node only in the kernel runtime, @polkadot/api only in the chain adapter,
// src/events + src/machines free of IO, and imports pointing down the layers only:
// cli -> actors -> machines, kernels -> events (a lower folder never imports a higher one).
import tseslint from "typescript-eslint";

const nats = ["@nats-io/*"];
const polkadotApi = ["@polkadot/api", "@polkadot/api/*"];
const chainRule = { group: polkadotApi, message: "@polkadot/api belongs in src/actors/chain/*." };
/** Relative imports of a folder (from anywhere below src/). */
const folder = (name) => [`../${name}/*`, `../../${name}/*`, `../../../${name}/*`, `../${name}`, `../../${name}`];
const up = (from, names) => ({ group: names.flatMap(folder), message: `${from} may not import from src/${names.join(", src/")}: imports point down the layers (cli -> actors -> machines, kernels -> events).` });
const io = ["node:*", "fs", "fs/*", "net", "child_process", "worker_threads", "os", "path", "crypto", "onnxruntime-node", ...nats, ...polkadotApi];

export default tseslint.config(
  { ignores: ["node_modules/**", "dist/**", "bench/results/**"] },
  {
    files: ["**/*.ts"],
    languageOptions: { parser: tseslint.parser },
    plugins: { "@typescript-eslint": tseslint.plugin },
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "no-restricted-syntax": ["error", { selector: "TSEnumDeclaration", message: "Use literal unions or `as const`, not enum." }],
      "no-restricted-imports": ["error", {
        patterns: [
          { group: nats, message: "NATS client imports belong in src/actors/nats/*." },
          { group: ["onnxruntime-node"], message: "onnxruntime-node belongs in src/kernels/runtime/*." },
          chainRule,
        ],
      }],
    },
  },
  {
    files: ["src/events/**/*.ts", "src/machines/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [{ group: io, message: "src/events and src/machines are pure: no IO, no NATS, no ORT." }, up("src/events and src/machines", ["actors", "cli"])] }],
      "no-restricted-properties": ["error",
        { object: "Math", property: "random", message: "Use a seeded generator." },
        { object: "Date", property: "now", message: "Time enters as events." }],
    },
  },
  { files: ["src/events/**/*.ts"], rules: { "no-restricted-imports": ["error", { patterns: [{ group: io, message: "src/events is pure: no IO, no NATS, no ORT." }, up("src/events", ["machines", "kernels", "actors", "cli"])] }] } },
  { files: ["src/kernels/**/*.ts"], rules: { "no-restricted-imports": ["error", { patterns: [
    { group: nats, message: "NATS stays in src/actors/nats." },
    { group: ["onnxruntime-node"], message: "onnxruntime-node belongs in src/kernels/runtime/*." },
    chainRule, up("src/kernels", ["machines", "actors", "cli"]),
  ] }] } },
  { files: ["src/actors/**/*.ts"], rules: { "no-restricted-imports": ["error", { patterns: [
    { group: nats, message: "NATS client imports belong in src/actors/nats/*." },
    { group: ["onnxruntime-node"], message: "onnxruntime-node belongs in src/kernels/runtime/*." },
    chainRule, up("src/actors", ["cli"]),
  ] }] } },
  { files: ["test/**/*.ts", "bench/**/*.ts"], rules: { "no-restricted-imports": "off" } },
  { files: ["src/actors/nats/**/*.ts"], rules: { "no-restricted-imports": ["error", { patterns: [chainRule, { group: ["onnxruntime-node"], message: "onnxruntime-node belongs in src/kernels/runtime/*." }, up("src/actors", ["cli"])] }] } },
  { files: ["src/kernels/runtime/**/*.ts"], rules: { "no-restricted-imports": ["error", { patterns: [{ group: nats, message: "NATS stays in src/actors/nats." }, chainRule, up("src/kernels", ["machines", "actors", "cli"])] }] } },
  // The chain adapter is the only importer of @polkadot/api (the rest of @polkadot is plain crypto).
  { files: ["src/actors/chain/**/*.ts"], rules: { "no-restricted-imports": ["error", { patterns: [
    { group: nats, message: "NATS client imports belong in src/actors/nats/*." },
    { group: ["onnxruntime-node"], message: "onnxruntime-node belongs in src/kernels/runtime/*." },
    up("src/actors", ["cli"]),
  ] }] } },
);
