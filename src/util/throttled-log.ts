// A burst of one kind of failure (every request answering 503 while an import holds the store's lock)
// should show in the server log without writing one line per request. Pure apart from the injected log
// and clock; it keeps no timer, so a burst's last count is told by the next line of its kind.

export interface ThrottledLogDeps {
  log: (line: string) => void;
  now: () => number;
  /** Least time between two lines of one kind. */
  intervalMs: number;
}

/** Returns `report(kind, line)`: the first line of a kind at once, then at most one per interval with the count held back. */
export function createThrottledLog(deps: ThrottledLogDeps): (kind: string, line: string) => void {
  const kinds = new Map<string, { at: number; held: number }>();
  return (kind, line) => {
    const t = deps.now();
    const state = kinds.get(kind);
    if (state && t - state.at < deps.intervalMs) {
      state.held++;
      return;
    }
    const held = state?.held ?? 0;
    deps.log(held ? `${line} (and ${held} more like it since the last such line, ${Math.round((t - state!.at) / 1000)} s ago)` : line);
    kinds.set(kind, { at: t, held: 0 });
  };
}
