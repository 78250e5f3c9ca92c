// What the router reads from the decision log per classifier version (the ratings behind a correction) is
// asked for on every request and must answer from memory: each version's value is kept and re-computed at
// most every `refreshMs`.

export function perVersionCache<T>(compute: (version: string) => T, refreshMs: number, now: () => number): (version: string) => T {
  const cache = new Map<string, { at: number; value: T }>();
  return (version) => {
    const t = now();
    const hit = cache.get(version);
    if (hit && t - hit.at < refreshMs) return hit.value;
    // Versions come and go with retrains; only the serving one is asked for in practice.
    if (!hit && cache.size >= 8) cache.clear();
    const value = compute(version);
    cache.set(version, { at: t, value });
    return value;
  };
}
