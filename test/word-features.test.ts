import { WORD_BUCKETS, wordBucket, wordSlots, wordTokens } from '../src/routing/word-features';
import { FEATURE_KINDS, rowLength } from '../src/routing/features';
import { promptStats, promptStatsV2 } from '../src/routing/prompt-stats';

/** The (bucket → weight) pairs a slot row holds, without the padding. */
function entries(row: Float32Array, slots: number): Map<number, number> {
  const out = new Map<number, number>();
  for (let k = 0; k < slots; k++) if (row[slots + k] !== 0) out.set(row[k], row[slots + k]);
  return out;
}

describe('hashed word features', () => {
  it('tokenises words, numbers and symbols, case-insensitively', () => {
    expect(wordTokens('Which is NOT true? 12 apples, 3.5 kg')).toEqual(['which', 'is', 'not', 'true', '?', '12', 'apples', ',', '3', '.', '5', 'kg']);
    expect(wordTokens('Größe über')).toEqual(['größe', 'über']);
    expect(wordTokens('   ')).toEqual([]);
  });

  it('counts words and adjacent pairs, weight 1 + ln(count), padding after', () => {
    const slots = 8;
    const row = wordSlots('cat cat dog', slots);
    const got = entries(row, slots);
    // cat ×2, dog, "cat cat", "cat dog": four buckets.
    expect(got.size).toBe(4);
    expect(got.get(wordBucket('cat'))).toBeCloseTo(1 + Math.log(2), 6);
    expect(got.get(wordBucket('dog'))).toBe(1);
    expect(got.get(wordBucket('cat cat'))).toBe(1);
    expect(got.get(wordBucket('cat dog'))).toBe(1);
    for (let k = 4; k < slots; k++) {
      expect(row[k]).toBe(0);
      expect(row[slots + k]).toBe(0);
    }
    expect(wordSlots('', slots).every((v) => v === 0)).toBe(true);
  });

  it('is deterministic and keeps buckets in range (0 is padding only)', () => {
    const a = wordSlots('The quick brown fox jumps over the lazy dog.');
    const b = wordSlots('The quick brown fox jumps over the lazy dog.');
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    for (const bucket of entries(a, a.length / 2).keys()) {
      expect(Number.isInteger(bucket)).toBe(true);
      expect(bucket).toBeGreaterThanOrEqual(1);
      expect(bucket).toBeLessThan(WORD_BUCKETS);
    }
  });

  it('keeps the end of a prompt when it has more distinct features than slots', () => {
    const words = Array.from({ length: 50 }, (_, i) => `w${i}x`.replace(/\d/g, (d) => 'abcdefghij'[Number(d)]));
    const slots = 10;
    const got = entries(wordSlots(words.join(' '), slots), slots);
    expect(got.size).toBe(slots);
    expect(got.has(wordBucket(words[49]))).toBe(true);
    expect(got.has(wordBucket(`${words[48]} ${words[49]}`))).toBe(true);
    expect(got.has(wordBucket(words[0]))).toBe(false);
  });

  it.each([
    ['embedding+prompt-stats+words', promptStats],
    ['embedding+prompt-stats-v2+words', promptStatsV2],
  ] as const)('sits at the end of %s, after the embedding and prompt statistics', (name, statsOf) => {
    const kind = FEATURE_KINDS[name];
    const dim = 4;
    const prompt = 'Is this easy, Anna?';
    const row = kind.build([new Float32Array([1, 0, 0, 0])], prompt);
    expect(row).toHaveLength(rowLength(kind, dim));
    // The trainer and the ONNX graph find the slots as the last 2·slots columns of the row.
    expect(Array.from(row.subarray(row.length - 2 * kind.words!.slots))).toEqual(Array.from(wordSlots(prompt)));
    const stats = statsOf(prompt);
    expect(Array.from(row.subarray(dim, dim + stats.length))).toEqual(Array.from(stats));
    expect(rowLength(kind, dim) - dim - stats.length).toBe(2 * kind.words!.slots);
  });

  it('keeps the statistics-only kind free of word slots', () => {
    expect(FEATURE_KINDS['embedding+prompt-stats'].words).toBeUndefined();
  });
});
