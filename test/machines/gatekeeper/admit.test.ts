import { beforeAll, describe, expect, it } from "vitest";
import { certifySessionKey, cryptoReady, loadHotkey, nodeCrypto, sessionKey } from "../../../src/actors/identity/index.js";
import { admit, type JoinRole, parseAllowList } from "../../../src/machines/gatekeeper/index.js";

const miner = loadHotkey("//Miner1");
const session = () => sessionKey(new Uint8Array(32).fill(7));
const registry = new Map<string, ReadonlySet<JoinRole>>([[miner.address, new Set<JoinRole>(["miner"])]]);

beforeAll(async () => { await cryptoReady(); });

describe("gatekeeper admission", () => {
  it("admits a registered hotkey's certified session key for its run, as the role it may take", () => {
    const certificate = certifySessionKey(miner, "r1", session());
    expect(admit(nodeCrypto, "r1", registry, { certificate, role: "miner" })).toEqual({ _tag: "Admitted", hotkey: miner.address, sessionKey: certificate.sessionKey, role: "miner" });
  });

  it("refuses a certificate made for another run, a role not granted and malformed requests, by name", () => {
    const certificate = certifySessionKey(miner, "r1", session());
    const tag = (raw: unknown, run = "r1") => { const a = admit(nodeCrypto, run, registry, raw); return a._tag === "Refused" ? a.refusal._tag : a._tag; };
    expect(tag({ certificate, role: "miner" }, "r2")).toBe("BadCertificate");
    expect(tag({ certificate, role: "validator" })).toBe("RoleNotAllowed");
    expect(tag({ certificate, role: "king" })).toBe("MalformedRequest");
    expect(tag({ certificate: { ...certificate, sessionKey: "xyz" }, role: "miner" })).toBe("MalformedRequest");
    expect(tag(null)).toBe("MalformedRequest");
    expect(tag({ certificate: certifySessionKey(loadHotkey("//Other"), "r1", session()), role: "miner" })).toBe("NotRegistered");
  });

  it("reads an allow-list of hotkeys, validators marked, and names the first bad line", () => {
    const v = loadHotkey("//Validator").address;
    const r = parseAllowList(`# miners\n${miner.address}\n\n${v} validator  # may also mine\n`);
    expect(typeof r).not.toBe("string");
    if (typeof r === "string") return;
    expect([...(r.get(miner.address) ?? [])]).toEqual(["miner"]);
    expect([...(r.get(v) ?? [])].sort()).toEqual(["miner", "validator"]);
    expect(parseAllowList(`${miner.address}\nnot-a-key\n`)).toMatch(/^line 2:/);
    expect(parseAllowList(`${miner.address} admin\n`)).toMatch(/^line 1:/);
  });
});
