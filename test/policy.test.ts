import { choose, chooseNearBest, coldStartOrder } from '../src/routing/policy';

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

  it('near-best: the cheapest model within 1 − target of the most likely one, then the other qualifiers, then the rest by p', () => {
    // Best p 0.93: target 0.85 accepts p ≥ 0.78, target 0.95 p ≥ 0.88.
    expect(chooseNearBest(candidates, 0.85)).toEqual({ chosen: 'medium', fallbacks: ['large', 'small'], reason: 'cheapest-near-best' });
    expect(chooseNearBest(candidates, 0.95)).toEqual({ chosen: 'large', fallbacks: ['medium', 'small'], reason: 'cheapest-near-best' });
    expect(chooseNearBest(candidates, 0.65).chosen).toBe('small');
    expect(chooseNearBest(candidates, 0).chosen).toBe('small');
    expect(chooseNearBest(candidates, 1).chosen).toBe('large');
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
