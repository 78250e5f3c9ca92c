// Routing quality metrics (classifier quality, RouteLLM's PGR/APGR/CPT, RouterBench's Zero router)
// computed from labelled predictions, so `eval`, `retrain` and the benchmarks print the same numbers.
// Pure functions: no I/O, no clock, no randomness. This file gathers the folder's public names.

export { POLICY_KINDS, type PolicyKind } from '../../src/routing/policy';
export type { CostQualityPoint, LabelledPrediction, ModelPoint, NamedPoint, NumberVector, OraclePoint, SweepPoint, Vertex } from './types';
export * from './classifier-metrics';
export * from './sweep';
export * from './curves';
export * from './summary';
export * from './format';
export { renderQualityCostSvg } from './svg';
