import { choose, coldStartOrder } from '../src/routing/policy';

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

  it('cold start tries the configured model first, then the rest cheapest first', () => {
    expect(coldStartOrder('large', candidates)).toEqual({ chosen: 'large', fallbacks: ['small', 'medium'], reason: 'cold-start' });
  });
});
