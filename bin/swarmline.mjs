#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296:${GLIBC_TUNABLES} node
// The `swarmline` command: loads the TypeScript CLI through tsx, so no build step is needed.
// glibc reads its malloc settings only when a process starts, so the first line sets them (a
// GLIBC_TUNABLES of your own is appended and wins): large allocations on transparent huge pages
// and freed memory kept for reuse. Node gets its ArrayBuffers (ORT's outputs, weight versions,
// blob chunks) from malloc, and a first write to a fresh 4 KiB page can cost ~12 µs on a VM (~6 ms
// per 2 MB); see docs/BENCHMARKS.md "Memory from malloc". Other C libraries ignore the variable.
import { register } from "tsx/esm/api";
register();
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv);
