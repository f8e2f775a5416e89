// Lint keeps the layering of STYLE.md: NATS client imports only in the NATS adapter files,
// onnxruntime-node only in the kernel runtime, and src/events + src/machines free of IO.
import tseslint from "typescript-eslint";

const nats = ["@nats-io/*"];
const io = ["node:*", "fs", "fs/*", "net", "child_process", "worker_threads", "os", "path", "crypto", "onnxruntime-node", ...nats];

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
        ],
      }],
    },
  },
  {
    files: ["src/events/**/*.ts", "src/machines/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [{ group: io, message: "src/events and src/machines are pure: no IO, no NATS, no ORT." }] }],
      "no-restricted-properties": ["error",
        { object: "Math", property: "random", message: "Use a seeded generator." },
        { object: "Date", property: "now", message: "Time enters as events." }],
    },
  },
  { files: ["src/actors/nats/**/*.ts", "test/**/*.ts", "bench/**/*.ts"], rules: { "no-restricted-imports": "off" } },
  { files: ["src/kernels/runtime/**/*.ts"], rules: { "no-restricted-imports": ["error", { patterns: [{ group: nats, message: "NATS stays in src/actors/nats." }] }] } },
);
