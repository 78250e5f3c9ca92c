import { createMicroBatcher } from '../src/routing/micro-batcher';

describe('micro-batcher', () => {
  it('runs calls made in the same turn as one batch, in order, capped at maxBatch', async () => {
    const batches: number[][] = [];
    const double = createMicroBatcher(async (xs: number[]) => {
      batches.push(xs);
      return xs.map((x) => x * 2);
    }, 4);
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map((x) => double(x)));
    expect(results).toEqual([2, 4, 6, 8, 10, 12]);
    expect(batches).toEqual([[1, 2, 3, 4], [5, 6]]);
    expect(await double(7)).toBe(14);
    expect(batches[2]).toEqual([7]);
  });

  it('rejects every call of a failed batch and keeps serving later ones', async () => {
    let fail = true;
    const f = createMicroBatcher(async (xs: string[]) => {
      if (fail) throw new Error('embedder down');
      return xs.map((x) => x.toUpperCase());
    });
    const settled = await Promise.allSettled([f('a'), f('b')]);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected']);
    fail = false;
    expect(await f('c')).toBe('C');
  });

  it('fails only the bad call of a batch: the batch is run again one call at a time', async () => {
    const batches: string[][] = [];
    const f = createMicroBatcher(async (xs: string[]) => {
      batches.push(xs);
      if (xs.includes('bad')) throw new Error('NaN for "bad"');
      return xs.map((x) => x.toUpperCase());
    });
    const settled = await Promise.allSettled([f('a'), f('bad'), f('c')]);
    expect(settled).toEqual([
      { status: 'fulfilled', value: 'A' },
      { status: 'rejected', reason: new Error('NaN for "bad"') },
      { status: 'fulfilled', value: 'C' },
    ]);
    expect(batches).toEqual([['a', 'bad', 'c'], ['a'], ['bad'], ['c']]);
  });
});
