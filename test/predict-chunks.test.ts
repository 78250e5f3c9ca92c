// score and eval featurise and predict a file a slice at a time; the slices must reassemble exactly.
import { predictInChunks } from '../src/cli/commands';

describe('predictInChunks', () => {
  const prompts = ['a', 'bb', 'ccc', 'dddd', 'eeeee'];
  // Per prompt: its length and its position inside the slice it was predicted in.
  const byLength = async (slice: readonly string[], onProgress: (done: number) => void): Promise<Float32Array> => {
    onProgress(slice.length);
    return Float32Array.from(slice.flatMap((p, i) => [p.length, i]));
  };

  it('predicts slices of the given size and puts each row where its prompt was', async () => {
    const slices: string[][] = [];
    const progress: string[] = [];
    const P = await predictInChunks(
      prompts,
      2,
      2,
      async (slice, onProgress) => {
        slices.push([...slice]);
        return byLength(slice, onProgress);
      },
      (done, total) => progress.push(`${done}/${total}`),
    );
    expect(slices).toEqual([['a', 'bb'], ['ccc', 'dddd'], ['eeeee']]);
    expect(Array.from(P)).toEqual([1, 0, 2, 1, 3, 0, 4, 1, 5, 0]);
    expect(progress).toEqual(['2/5', '4/5', '5/5']);
  });

  it('one slice when the chunk is larger than the file; nothing to do for no prompts', async () => {
    const P = await predictInChunks(prompts, 2, 4096, byLength, () => {});
    expect(Array.from(P)).toEqual([1, 0, 2, 1, 3, 2, 4, 3, 5, 4]);
    expect(await predictInChunks([], 2, 4096, byLength, () => {})).toHaveLength(0);
  });

  it('predicts a repeated prompt once and gives every copy its row', async () => {
    const slices: string[][] = [];
    const P = await predictInChunks(
      ['bb', 'a', 'bb', 'ccc', 'a'],
      2,
      2,
      async (slice, onProgress) => {
        slices.push([...slice]);
        return byLength(slice, onProgress);
      },
      () => {},
    );
    expect(slices).toEqual([['bb', 'a'], ['ccc']]);
    expect(Array.from(P)).toEqual([2, 0, 1, 1, 2, 0, 3, 0, 1, 1]);
  });

  it('refuses a slice answered with the wrong number of probabilities', async () => {
    await expect(predictInChunks(prompts, 3, 2, byLength, () => {})).rejects.toThrow('expected 2×3 probabilities, got 4');
  });
});
