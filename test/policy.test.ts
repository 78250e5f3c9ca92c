import { choose, chooseNearBest, coldStartOrder, logPriceShares } from '../src/routing/policy';

describe('policy', () => {
  const candidates = [
    { model: 'small', pSuccess: 0.62, estimatedCost: 1 },
    { model: 'medium', pSuccess: 0.81, estimatedCost: 5 },
    { model: 'large', pSuccess: 0.93, estimatedCost: 20 },
  ];

  it('picks the cheapest model that reaches the target, then the other qualifiers, then the rest by p', () => {
    expect(choose(candidates, 0.8)).toEqual({ chosen: 'medium', fallbacks: ['large', 'small'], reason: 'cheapest-above-target' });
    expect(choose(candidates, 0.6)).toEqual({ chosen: 'small', fallbacks: ['medium', 'large'], reason: 'cheapest-above-target' });
    expect(choose(candidates, 0.9)).toEqual({ chosen: 'large', fallbacks: ['medium', 'small'], reason: 'cheapest-above-target' });
  });

  it('takes the most likely model when none reaches the target', () => {
    expect(choose(candidates, 0.95)).toEqual({ chosen: 'large', fallbacks: ['medium', 'small'], reason: 'best-below-target' });
  });

  it('target 0 always takes the cheapest; target 1 the most likely', () => {
    expect(choose(candidates, 0).chosen).toBe('small');
    expect(choose(candidates, 1).chosen).toBe('large');
  });

  it('near-best: the best p − (1 − target)·(log price share), never more than 1 − target below the best p', () => {
    // Log price shares over 1…20: small 0, medium ln 5 / ln 20 = 0.537, large 1.
    expect(logPriceShares([1, 5, 20]).map((s) => Number(s.toFixed(3)))).toEqual([0, 0.537, 1]);
    // Target 0.7 (slack 0.3): values 0.62, 0.81 − 0.161 = 0.649, 0.93 − 0.3 = 0.63. Bar 0.63: small is below it.
    expect(chooseNearBest(candidates, 0.7)).toEqual({ chosen: 'medium', fallbacks: ['large', 'small'], reason: 'near-best' });
    // Target 0.85 (slack 0.15): 0.62, 0.729, 0.78. Medium is within 0.15 of the best too, but large is
    // 0.12 likelier for under half the log price range, which buys more than the 0.07 that half is allowed.
    expect(chooseNearBest(candidates, 0.85)).toEqual({ chosen: 'large', fallbacks: ['medium', 'small'], reason: 'near-best' });
    expect(chooseNearBest(candidates, 0.95)).toEqual({ chosen: 'large', fallbacks: ['medium', 'small'], reason: 'near-best' });
    // Target 0.65 (slack 0.35): 0.62 against 0.81 − 0.188 = 0.622: medium, just.
    expect(chooseNearBest(candidates, 0.65).chosen).toBe('medium');
    expect(chooseNearBest(candidates, 0.6).chosen).toBe('small');
    expect(chooseNearBest(candidates, 0).chosen).toBe('small');
    expect(chooseNearBest(candidates, 1).chosen).toBe('large');
  });

  it('near-best never gives up more than 1 − target of the best predicted success', () => {
    let seed = 7;
    const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let trial = 0; trial < 2000; trial++) {
      const some = Array.from({ length: 2 + (trial % 5) }, (_, i) => ({ model: `m${i}`, pSuccess: rand(), estimatedCost: trial % 7 === 0 && i === 0 ? 0 : rand() * 10 }));
      const target = rand();
      const chosen = some.find((c) => c.model === chooseNearBest(some, target).chosen)!;
      expect(chosen.pSuccess).toBeGreaterThanOrEqual(Math.max(...some.map((c) => c.pSuccess)) - (1 - target) - 1e-12);
    }
  });

  it('near-best: a free model sits at the bottom of the price range; equal prices leave only p', () => {
    const free = [
      { model: 'local', pSuccess: 0.5, estimatedCost: 0 },
      { model: 'hosted', pSuccess: 0.9, estimatedCost: 1 },
    ];
    expect(logPriceShares([0, 1])).toEqual([0, 1]);
    expect(chooseNearBest(free, 0.7).chosen).toBe('hosted'); // 0.5 against 0.9 − 0.3
    expect(chooseNearBest(free, 0.5).chosen).toBe('local'); // 0.5 against 0.9 − 0.5, a tie goes to the cheaper
    const same = [
      { model: 'a', pSuccess: 0.5, estimatedCost: 2 },
      { model: 'b', pSuccess: 0.6, estimatedCost: 2 },
    ];
    expect(logPriceShares([2, 2])).toEqual([0, 0]);
    expect(chooseNearBest(same, 0).chosen).toBe('b');
  });

  it('near-best sends a prompt every model will probably fail to the cheapest, where the per-request bar sends it to the dearest', () => {
    const hopeless = [
      { model: 'small', pSuccess: 0.1, estimatedCost: 1 },
      { model: 'large', pSuccess: 0.14, estimatedCost: 20 },
    ];
    expect(choose(hopeless, 0.9).chosen).toBe('large');
    expect(chooseNearBest(hopeless, 0.9).chosen).toBe('small');
    expect(chooseNearBest(hopeless, 0.97).chosen).toBe('large');
  });

  it('cold start tries the configured model first, then the rest cheapest first', () => {
    expect(coldStartOrder('large', candidates)).toEqual({ chosen: 'large', fallbacks: ['small', 'medium'], reason: 'cold-start' });
  });
});
