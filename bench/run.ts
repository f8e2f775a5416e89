#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296:${GLIBC_TUNABLES} node --import tsx
// The same malloc settings as bin/swarmline.mjs (see there), so the bench measures what `swarmline` runs.
// `npm run bench -- NAME [args]`: runs bench/NAME.ts, which measures a baseline and Swarmline in
// one run, prints the figures and writes bench/results/NAME.json.
const [name, ...args] = process.argv.slice(2);
const known = ["events", "kernels", "swarm", "attribution", "cluster", "memory", "blobs", "pipeline"];
if (name === undefined || !known.includes(name)) {
  process.stderr.write(`usage: npm run bench -- <${known.join("|")}> [args]\n`);
  process.exit(2);
}
const mod = (await import(`./${name}.ts`)) as { run: (args: string[]) => Promise<void> };
await mod.run(args);
