// The payout → weight vector rules, pure: what subtensor takes, and what is refused before sending.
import { describe, expect, it } from "vitest";
import type { Metagraph } from "../../../src/actors/chain/metagraph.js";
import { checkValidator, maxUpscale, weightVector } from "../../../src/actors/chain/vector.js";

const graph = (n: number, over: Partial<Metagraph["hyperparameters"]> = {}, block = 500): Metagraph => ({
  netuid: 1, block,
  neurons: Array.from({ length: n }, (_, uid) => ({ uid, hotkey: `hk${uid}`, stake: 0n, validatorPermit: uid === 0, lastUpdate: 0 })),
  hyperparameters: { minAllowedWeights: 1, maxWeightsLimit: 65535, weightsSetRateLimit: 100, weightsVersionKey: 0, commitRevealEnabled: false, tempo: 10, revealPeriodEpochs: 1, ...over },
});
const row = (uid: number, weight: number): { hotkey: string; uid: number; weight: number } => ({ hotkey: `hk${uid}`, uid, weight });

describe("weightVector", () => {
  it("sorts uids, drops NaN, clamps negatives to zero and max-upscales so the largest is 65535", () => {
    expect(weightVector([row(3, 100), row(1, Number.NaN), row(2, -5), row(0, 50)], graph(4))).toEqual({ uids: [0, 2, 3], values: [32768, 0, 65535] });
  });

  it("keeps an upscaled payout's u16 weights exactly", () => {
    expect(weightVector([row(2, 65535), row(1, 12345)], graph(3))).toEqual({ uids: [1, 2], values: [12345, 65535] });
    expect(maxUpscale([1, 2, 4])).toEqual([16384, 32768, 65535]);
  });

  it("refuses a duplicate uid, a uid outside the subnet, and a payout with no positive weight", () => {
    expect(() => weightVector([row(1, 5), row(1, 6)], graph(3))).toThrow(expect.objectContaining({ rule: "duplicate-uids" }));
    expect(() => weightVector([row(5, 5)], graph(3))).toThrow(expect.objectContaining({ rule: "unknown-uid" }));
    expect(() => weightVector([row(1, 0), row(2, Number.NaN)], graph(3))).toThrow(expect.objectContaining({ rule: "empty" }));
  });

  it("refuses a vector whose largest normalised weight is above max_weight_limit, and accepts one at it", () => {
    // 2 equal weights: each is half the vector; a limit of 32768/65535 (just above half) admits them, 32767 does not.
    expect(weightVector([row(1, 9), row(2, 9)], graph(3, { maxWeightsLimit: 32768 })).uids).toEqual([1, 2]);
    expect(() => weightVector([row(1, 9), row(2, 9)], graph(3, { maxWeightsLimit: 32767 }))).toThrow(expect.objectContaining({ rule: "max-weight-limit", sent: false }));
  });

  it("counts min_allowed_weights against the subnet size when the subnet is smaller", () => {
    expect(weightVector([row(1, 9)], graph(3, { minAllowedWeights: 1024 }))).toEqual({ uids: [0, 1, 2], values: [0, 65535, 0] });
  });
});

describe("checkValidator", () => {
  it("returns the validator's uid once the rate limit has passed, and refuses it before", () => {
    const g = graph(3, { weightsSetRateLimit: 100 }, 500);
    expect(checkValidator("hk0", g)).toBe(0);
    const recent = { ...g, neurons: g.neurons.map((x) => (x.uid === 0 ? { ...x, lastUpdate: 450 } : x)) };
    expect(() => checkValidator("hk0", recent)).toThrow(expect.objectContaining({ _tag: "WeightsRateLimited", message: expect.stringContaining("wait 50 more blocks") }));
    expect(checkValidator("hk0", { ...recent, block: 550 })).toBe(0);
  });
});
