// Flag parsing the benchmarks share.

/** A flag that must be a whole number ≥ 1, else `fallback` when absent; a bad value stops the run with its flag named. */
export function wholeNumber(value: string | undefined, fallback: number, flag: string): number {
  const n = value === undefined ? fallback : Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a whole number ≥ 1, got "${value}"`);
  return n;
}
