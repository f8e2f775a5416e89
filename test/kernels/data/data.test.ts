// Data: the SOTU corpus and its split, byte tokens, batches as pure functions of (seed, batch
// id), fixed validation batches, bits per byte and the unigram baseline.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { batch, validationBatches } from "../../../src/kernels/data/batches.js";
import { buildCorpus, isValidation, loadSpeeches, sotuCorpus } from "../../../src/kernels/data/corpus.js";
import { bitsPerByte, crossEntropyBits, unigramBpb, unigramBpbOfTargets, unigramModel } from "../../../src/kernels/data/metrics.js";
import { uniform } from "../../../src/kernels/data/prng.js";
import { BYTE_VOCAB, decodeTokens, encodeText } from "../../../src/kernels/data/tokenizer.js";

const text = encodeText("It is the constitutional duty of the President to give to the Congress information. ".repeat(20));

describe("byte tokenizer", () => {
  it("round-trips any string through UTF-8 bytes in a 256-token vocabulary", () => {
    fc.assert(fc.property(fc.string({ unit: "grapheme" }), (s) => {
      const t = encodeText(s);
      return t.every((b) => b < BYTE_VOCAB) && decodeTokens(t) === s;
    }));
  });
});

describe("SOTU corpus", () => {
  it("loads every address in (year, name) order and splits about a tenth off by year", () => {
    const speeches = loadSpeeches();
    expect(speeches.length).toBe(233);
    expect(speeches[0]?.year).toBe(1790);
    const val = speeches.filter(isValidation);
    expect(val.every((s) => s.year % 10 === 7)).toBe(true);
    const c = sotuCorpus();
    expect(c.train.length + c.validation.length).toBeGreaterThan(10_700_000);
    expect(c.validation.length / (c.train.length + c.validation.length)).toBeGreaterThan(0.05);
    expect(c.validation.length / (c.train.length + c.validation.length)).toBeLessThan(0.15);
    expect(Buffer.compare(buildCorpus(speeches).train, c.train)).toBe(0);
  });

  it("shares no speech between train and validation", () => {
    const speeches = loadSpeeches();
    const valSpeech = speeches.find(isValidation);
    const trainSpeech = speeches.find((s) => !isValidation(s));
    const c = sotuCorpus();
    const probe = (s: string) => Buffer.from(c.train).includes(Buffer.from(encodeText(s)));
    expect(probe((valSpeech?.text ?? "").slice(1000, 1200))).toBe(false);
    expect(probe((trainSpeech?.text ?? "").slice(1000, 1200))).toBe(true);
  });
});

describe("batches", () => {
  const shape = { batchSize: 4, seq: 16 };

  it("are a pure function of (seed, batch id)", () => {
    fc.assert(fc.property(fc.nat(), fc.nat(), (seed, id) => {
      const a = batch(text, seed, id, shape);
      const b = batch(text, seed, id, shape);
      return a.offsets.join() === b.offsets.join() && a.inputs.join() === b.inputs.join();
    }));
    expect(batch(text, 1, 2, shape).offsets).not.toEqual(batch(text, 1, 3, shape).offsets);
    expect(batch(text, 1, 2, shape).offsets).not.toEqual(batch(text, 2, 2, shape).offsets);
  });

  it("pairs each input byte with the next byte as its target, inside the text", () => {
    fc.assert(fc.property(fc.nat(), fc.nat(), (seed, id) => {
      const b = batch(text, seed, id, shape);
      return b.offsets.every((off, r) => {
        if (off < 0 || off + shape.seq + 1 > text.length) return false;
        for (let j = 0; j < shape.seq; j++) {
          if (b.inputs[r * shape.seq + j] !== text[off + j] || b.targets[r * shape.seq + j] !== text[off + j + 1]) return false;
        }
        return true;
      });
    }));
  });

  it("emits int64 ids when the graph wants them", () => {
    const b = batch(text, 5, 5, { ...shape, dtype: "int64" });
    expect(b.inputs).toBeInstanceOf(BigInt64Array);
    expect(Array.from(b.inputs as BigInt64Array, Number)).toEqual(Array.from(batch(text, 5, 5, shape).inputs as Int32Array));
  });

  it("spreads windows uniformly (offset histogram is flat within noise)", () => {
    const bins = new Array<number>(8).fill(0);
    const span = text.length - shape.seq;
    for (let id = 0; id < 2000; id++) for (const o of batch(text, 9, id, shape).offsets) {
      const k = Math.floor((o / span) * 8);
      bins[k] = (bins[k] ?? 0) + 1;
    }
    for (const c of bins) expect(Math.abs(c - 1000)).toBeLessThan(150);
    expect(uniform(1, 2, 3)).toBeGreaterThanOrEqual(0);
  });

  it("has fixed validation batches that cover the split evenly", () => {
    const v = validationBatches(text, 3, shape);
    expect(v).toHaveLength(3);
    expect(v[0]?.offsets[0]).toBe(0);
    expect((v[2]?.offsets[3] ?? 0) + shape.seq + 1).toBe(text.length);
    expect(validationBatches(text, 3, shape).map((b) => b.offsets)).toEqual(v.map((b) => b.offsets));
  });
});

describe("bits per byte", () => {
  it("converts nats to bits (a uniform byte model costs 8 bits)", () => {
    expect(bitsPerByte(Math.log(256))).toBeCloseTo(8, 12);
  });

  it("scores a text under its own frequencies below uniform and near its entropy", () => {
    const p = unigramModel(text);
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    const h = crossEntropyBits(p, text);
    expect(h).toBeLessThan(8);
    expect(h).toBeGreaterThan(3);
    expect(unigramBpb(text, text)).toBe(h);
    const v = validationBatches(text, 2, { batchSize: 2, seq: 8 });
    expect(unigramBpbOfTargets(p, v.map((b) => b.targets))).toBeLessThan(8);
  });

  it("puts the SOTU unigram baseline between 4 and 5 bits per byte", () => {
    const c = sotuCorpus();
    const bpb = unigramBpb(c.train, c.validation);
    expect(bpb).toBeGreaterThan(4);
    expect(bpb).toBeLessThan(5);
  });
});
