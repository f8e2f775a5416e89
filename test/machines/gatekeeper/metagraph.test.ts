import { describe, expect, it } from "vitest";
import { admit, type JoinRole, type Member, type Registry, registryChanges, registryOfMetagraph, revokedMembers } from "../../../src/machines/gatekeeper/index.js";

const roles = (r: Registry, hotkey: string): JoinRole[] | undefined => {
  const s = r.get(hotkey);
  return s === undefined ? undefined : [...s].sort();
};

describe("registryOfMetagraph", () => {
  const neurons = [
    { hotkey: "validator", validatorPermit: true },
    { hotkey: "miner", validatorPermit: false },
  ];

  it("lets every registered hotkey mine and a permit-holder also validate", () => {
    const r = registryOfMetagraph(neurons, []);
    expect(roles(r, "miner")).toEqual(["miner"]);
    expect(roles(r, "validator")).toEqual(["miner", "validator"]);
    expect(r.size).toBe(2);
  });

  it("grants the orchestrator role only to the named hotkeys, registered or not", () => {
    const r = registryOfMetagraph(neurons, ["owner", "miner"]);
    expect(roles(r, "owner")).toEqual(["orchestrator"]);
    expect(roles(r, "miner")).toEqual(["miner", "orchestrator"]);
    expect(roles(r, "validator")).toEqual(["miner", "validator"]);
  });

  it("gives nobody anything on an empty subnet without orchestrators", () => {
    expect(registryOfMetagraph([], []).size).toBe(0);
  });

  it("is what admit decides with: an unregistered hotkey is NotRegistered", () => {
    // admit checks the certificate first; a malformed request never reaches the registry.
    const a = admit({ sha256Hex: () => "", ed25519Verify: () => true, sr25519Verify: () => true }, "r1", registryOfMetagraph(neurons, []), {
      certificate: { hotkey: "stranger", sessionKey: "ab".repeat(32), certificate: "cd".repeat(64) }, role: "miner",
    });
    expect(a._tag === "Refused" ? a.refusal._tag : a._tag).toBe("NotRegistered");
  });
});

describe("revokedMembers", () => {
  const members: Member[] = [
    { run: "r1", hotkey: "owner", role: "orchestrator" },
    { run: "r1", hotkey: "gone", role: "miner" },
    { run: "r1", hotkey: "validator", role: "validator" },
    { run: "r2", hotkey: "gone", role: "miner" },
    { run: "r1", hotkey: "miner", role: "miner" },
  ];

  it("names a deregistered hotkey in every run it joined, and a validator whose permit lapsed", () => {
    const after = registryOfMetagraph([{ hotkey: "validator", validatorPermit: false }, { hotkey: "miner", validatorPermit: false }], ["owner"]);
    expect(revokedMembers(members, after)).toEqual([
      { run: "r1", hotkey: "gone", role: "miner" },
      { run: "r1", hotkey: "validator", role: "validator" },
      { run: "r2", hotkey: "gone", role: "miner" },
    ]);
  });

  it("names nobody while the registry still admits everyone in their role", () => {
    const same = registryOfMetagraph([{ hotkey: "gone", validatorPermit: false }, { hotkey: "validator", validatorPermit: true }, { hotkey: "miner", validatorPermit: false }], ["owner"]);
    expect(revokedMembers(members, same)).toEqual([]);
  });
});

describe("registryChanges", () => {
  it("lists registered, deregistered and re-permitted hotkeys, sorted", () => {
    const before = registryOfMetagraph([{ hotkey: "b", validatorPermit: false }, { hotkey: "a", validatorPermit: false }, { hotkey: "v", validatorPermit: true }], ["o"]);
    const after = registryOfMetagraph([{ hotkey: "v", validatorPermit: false }, { hotkey: "d", validatorPermit: false }, { hotkey: "c", validatorPermit: false }], ["o"]);
    expect(registryChanges(before, after)).toEqual({ added: ["c", "d"], removed: ["a", "b"], changed: ["v"] });
    expect(registryChanges(after, after)).toEqual({ added: [], removed: [], changed: [] });
  });
});
