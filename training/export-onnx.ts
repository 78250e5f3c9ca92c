// Exports a trained ClassifierSpec as an ONNX graph with the classifier file contract: input `embedding`
// float32 [N, D], output `p_success` float32 [N, M]. Every component becomes a subgraph producing logits
// [N, M]; the per-model stack weights combine them, the optional joint layer mixes the models' logits, and
// a Sigmoid gives calibrated probabilities.
import { attr, buildModel, floatTensor, int64Tensor, node, serializeModel, valueInfo } from '../src/onnx/onnx-builder';
import type { onnx } from 'onnx-proto';
import { type ClassifierSpec, type Component, type GatedSpec, type ServedSpec, expertsCoverAll, isGated, modelExperts } from './classifier-spec';

interface Graph {
  nodes: onnx.INodeProto[];
  initializers: onnx.ITensorProto[];
}

function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

function networkLogits(g: Graph, c: Extract<Component, { type: 'network' }>, input: string, p: string, d: number): string {
  const { params, columns } = c;
  let x = input;
  if (columns.start !== 0 || columns.end !== d) {
    g.initializers.push(
      int64Tensor(`${p}_col_starts`, [1], [columns.start]),
      int64Tensor(`${p}_col_ends`, [1], [columns.end]),
      int64Tensor(`${p}_col_axes`, [1], [1]),
    );
    g.nodes.push(node('Slice', [input, `${p}_col_starts`, `${p}_col_ends`, `${p}_col_axes`], [`${p}_cols`]));
    x = `${p}_cols`;
  }
  const w = columns.end - columns.start;
  g.initializers.push(
    floatTensor(`${p}_lo`, [w], c.lo),
    floatTensor(`${p}_hi`, [w], c.hi),
    floatTensor(`${p}_mean`, [w], c.mean),
    floatTensor(`${p}_inv_std`, [w], c.invStd),
  );
  g.nodes.push(
    node('Max', [x, `${p}_lo`], [`${p}_above_lo`]),
    node('Min', [`${p}_above_lo`, `${p}_hi`], [`${p}_clipped`]),
    node('Sub', [`${p}_clipped`, `${p}_mean`], [`${p}_centred`]),
    node('Mul', [`${p}_centred`, `${p}_inv_std`], [`${p}_x`]),
  );
  let h = `${p}_x`;
  if (params.hidden) {
    const l = params.hidden;
    g.initializers.push(floatTensor(`${p}_w1`, [l.inDim, l.outDim], l.W), floatTensor(`${p}_b1`, [l.outDim], l.b));
    g.nodes.push(
      node('MatMul', [h, `${p}_w1`], [`${p}_h_mm`]),
      node('Add', [`${p}_h_mm`, `${p}_b1`], [`${p}_h_pre`]),
      node('Relu', [`${p}_h_pre`], [`${p}_h`]),
    );
    h = `${p}_h`;
  }
  const o = params.out;
  g.initializers.push(floatTensor(`${p}_w2`, [o.inDim, o.outDim], o.W), floatTensor(`${p}_b2`, [o.outDim], o.b));
  g.nodes.push(node('MatMul', [h, `${p}_w2`], [`${p}_z_mm`]), node('Add', [`${p}_z_mm`, `${p}_b2`], [`${p}_logits`]));
  return `${p}_logits`;
}

function knnLogitsGraph(g: Graph, c: Extract<Component, { type: 'knn' }>, input: string, p: string, inputDim: number): string {
  const k = c.params;
  let e = input;
  if (inputDim !== k.d) {
    g.initializers.push(int64Tensor(`${p}_starts`, [1], [0]), int64Tensor(`${p}_ends`, [1], [k.d]), int64Tensor(`${p}_axes`, [1], [1]));
    g.nodes.push(node('Slice', [input, `${p}_starts`, `${p}_ends`, `${p}_axes`], [`${p}_e`]));
    e = `${p}_e`;
  }
  g.initializers.push(
    floatTensor(`${p}_keys_t`, [k.d, k.t], transpose(k.keys, k.t, k.d)),
    int64Tensor(`${p}_k`, [1], [k.k]),
    floatTensor(`${p}_inv_temp`, [], [1 / k.temperature]),
    int64Tensor(`${p}_axis2`, [1], [2]),
    int64Tensor(`${p}_axis1`, [1], [1]),
    floatTensor(`${p}_label_sum`, [k.t, k.m], k.labelSum),
    floatTensor(`${p}_label_count`, [k.t, k.m], k.labelCount),
    floatTensor(`${p}_prior_num`, [k.m], k.prior.map((v) => v * k.alpha)),
    floatTensor(`${p}_prior_den`, [], [k.alpha]),
    floatTensor(`${p}_lo`, [], [1e-4]),
    floatTensor(`${p}_hi`, [], [1 - 1e-4]),
    floatTensor(`${p}_one`, [], [1]),
  );
  g.nodes.push(
    node('MatMul', [e, `${p}_keys_t`], [`${p}_sim`]),
    node('TopK', [`${p}_sim`, `${p}_k`], [`${p}_top`, `${p}_idx`], { axis: attr.int(1), largest: attr.int(1), sorted: attr.int(1) }),
    node('ReduceMax', [`${p}_top`], [`${p}_best`], { axes: attr.ints([1]), keepdims: attr.int(1) }),
    node('Sub', [`${p}_top`, `${p}_best`], [`${p}_rel`]),
    node('Mul', [`${p}_rel`, `${p}_inv_temp`], [`${p}_scaled`]),
    node('Exp', [`${p}_scaled`], [`${p}_w`]),
    node('Unsqueeze', [`${p}_w`, `${p}_axis2`], [`${p}_w3`]),
    node('Gather', [`${p}_label_sum`, `${p}_idx`], [`${p}_gy`], { axis: attr.int(0) }),
    node('Gather', [`${p}_label_count`, `${p}_idx`], [`${p}_gc`], { axis: attr.int(0) }),
    node('Mul', [`${p}_gy`, `${p}_w3`], [`${p}_wy`]),
    node('Mul', [`${p}_gc`, `${p}_w3`], [`${p}_wc`]),
    node('ReduceSum', [`${p}_wy`, `${p}_axis1`], [`${p}_sy`], { keepdims: attr.int(0) }),
    node('ReduceSum', [`${p}_wc`, `${p}_axis1`], [`${p}_sc`], { keepdims: attr.int(0) }),
    node('Add', [`${p}_sy`, `${p}_prior_num`], [`${p}_num`]),
    node('Add', [`${p}_sc`, `${p}_prior_den`], [`${p}_den`]),
    node('Div', [`${p}_num`, `${p}_den`], [`${p}_rate`]),
    node('Clip', [`${p}_rate`, `${p}_lo`, `${p}_hi`], [`${p}_p`]),
    node('Sub', [`${p}_one`, `${p}_p`], [`${p}_q`]),
    node('Div', [`${p}_p`, `${p}_q`], [`${p}_odds`]),
    node('Log', [`${p}_odds`], [`${p}_logits`]),
  );
  return `${p}_logits`;
}

/**
 * The words component on the same input row: slice the bucket ids and weights, TF-IDF them (Gather the
 * IDF, multiply, divide by the row's L2 norm), then Gather each bucket's weights and sum over the slots.
 */
function wordLogitsGraph(g: Graph, c: Extract<Component, { type: 'words' }>, input: string, p: string): string {
  const w = c.params;
  g.initializers.push(
    int64Tensor(`${p}_id_starts`, [1], [w.start]),
    int64Tensor(`${p}_id_ends`, [1], [w.start + w.slots]),
    int64Tensor(`${p}_v_starts`, [1], [w.start + w.slots]),
    int64Tensor(`${p}_v_ends`, [1], [w.start + 2 * w.slots]),
    int64Tensor(`${p}_axis1`, [1], [1]),
    int64Tensor(`${p}_axis2`, [1], [2]),
    floatTensor(`${p}_idf`, [w.buckets], w.idf),
    floatTensor(`${p}_w`, [w.buckets, w.m], w.W),
    floatTensor(`${p}_b`, [w.m], w.b),
    floatTensor(`${p}_eps`, [], [1e-12]),
  );
  g.nodes.push(
    node('Slice', [input, `${p}_id_starts`, `${p}_id_ends`, `${p}_axis1`], [`${p}_ids_f`]),
    node('Cast', [`${p}_ids_f`], [`${p}_ids`], { to: attr.int(7) }), // 7 = INT64
    node('Slice', [input, `${p}_v_starts`, `${p}_v_ends`, `${p}_axis1`], [`${p}_v`]),
    node('Gather', [`${p}_idf`, `${p}_ids`], [`${p}_gidf`], { axis: attr.int(0) }),
    node('Mul', [`${p}_v`, `${p}_gidf`], [`${p}_u`]),
    node('Mul', [`${p}_u`, `${p}_u`], [`${p}_u2`]),
    node('ReduceSum', [`${p}_u2`, `${p}_axis1`], [`${p}_ss`], { keepdims: attr.int(1) }),
    node('Sqrt', [`${p}_ss`], [`${p}_norm0`]),
    node('Max', [`${p}_norm0`, `${p}_eps`], [`${p}_norm`]),
    node('Div', [`${p}_u`, `${p}_norm`], [`${p}_un`]),
    node('Unsqueeze', [`${p}_un`, `${p}_axis2`], [`${p}_un3`]),
    node('Gather', [`${p}_w`, `${p}_ids`], [`${p}_gw`], { axis: attr.int(0) }),
    node('Mul', [`${p}_gw`, `${p}_un3`], [`${p}_contrib`]),
    node('ReduceSum', [`${p}_contrib`, `${p}_axis1`], [`${p}_slot_sum`], { keepdims: attr.int(0) }),
    node('Add', [`${p}_slot_sum`, `${p}_b`], [`${p}_logits`]),
  );
  return `${p}_logits`;
}

/**
 * One classifier's logits [N, M] on `input`: its components, the stack and the optional joint layer. Every
 * name starts with `prefix` ('' for a classifier alone, so its graph is what it always was).
 */
function addSpecLogits(g: Graph, spec: ClassifierSpec, input: string, prefix: string): string {
  const m = spec.models.length;
  let sum = '';
  spec.components.forEach((c, i) => {
    const p = `${prefix}c${i}_${c.type}`;
    const z =
      c.type === 'network'
        ? networkLogits(g, c, input, p, spec.inputDim)
        : c.type === 'words'
          ? wordLogitsGraph(g, c, input, p)
          : knnLogitsGraph(g, c, input, p, spec.inputDim);
    g.initializers.push(floatTensor(`${p}_stack_w`, [m], spec.stack.weights[i]));
    g.nodes.push(node('Mul', [z, `${p}_stack_w`], [`${p}_weighted`]));
    if (sum === '') sum = `${p}_weighted`;
    else {
      g.nodes.push(node('Add', [sum, `${p}_weighted`], [`${p}_sum`]));
      sum = `${p}_sum`;
    }
  });
  g.initializers.push(floatTensor(`${prefix}stack_bias`, [m], spec.stack.bias));
  g.nodes.push(node('Add', [sum, `${prefix}stack_bias`], [`${prefix}logits`]));
  if (!spec.joint) return `${prefix}logits`;
  // z' = z·Aᵀ + z ⊙ (z·Bᵀ) + b, row by row: model j's logit from every model's, and products with its own.
  const transpose = (a: Float32Array): Float32Array => Float32Array.from({ length: m * m }, (_, i) => a[(i % m) * m + Math.floor(i / m)]);
  const n = (name: string): string => `${prefix}${name}`;
  g.initializers.push(
    floatTensor(n('joint_linear_t'), [m, m], transpose(spec.joint.linear)),
    floatTensor(n('joint_quadratic_t'), [m, m], transpose(spec.joint.quadratic)),
    floatTensor(n('joint_bias'), [m], spec.joint.bias),
  );
  g.nodes.push(
    node('MatMul', [n('logits'), n('joint_linear_t')], [n('joint_lin')]),
    node('MatMul', [n('logits'), n('joint_quadratic_t')], [n('joint_q')]),
    node('Mul', [n('logits'), n('joint_q')], [n('joint_quad')]),
    node('Add', [n('joint_lin'), n('joint_quad')], [n('joint_sum')]),
    node('Add', [n('joint_sum'), n('joint_bias')], [n('joint_logits')]),
  );
  return n('joint_logits');
}

/**
 * A gated classifier: the gate's logits pick one kind per row (ArgMax, then a one-hot of it), each kind's
 * classifier gives probabilities, and the row takes its kind's. When the experts predict different models,
 * each group of models predicted by the same experts takes the expert of the likeliest kind among those
 * (the gate's logits with the others pushed down by 1e9, ArgMax, one-hot), its outputs placed into the
 * models' columns by a 0/1 matrix (MatMul).
 */
function addGatedProbabilities(g: Graph, spec: GatedSpec, input: string): string {
  const k = spec.kinds.length;
  const M = spec.models.length;
  const gate = networkLogits(g, spec.gate, input, 'gate', spec.inputDim);
  g.initializers.push(int64Tensor('gate_kinds', [k], Array.from({ length: k }, (_, i) => i)));
  const oneHot = (logits: string, p: string): string => {
    g.nodes.push(
      node('ArgMax', [logits], [`${p}idx`], { axis: attr.int(1), keepdims: attr.int(1) }),
      node('Equal', [`${p}idx`, 'gate_kinds'], [`${p}is`]),
      node('Cast', [`${p}is`], [`${p}onehot`], { to: attr.int(1) }), // 1 = FLOAT
    );
    return `${p}onehot`;
  };
  const column = (onehot: string, e: number, p: string): string => {
    g.initializers.push(int64Tensor(`${p}start`, [1], [e]), int64Tensor(`${p}end`, [1], [e + 1]), int64Tensor(`${p}axis`, [1], [1]));
    g.nodes.push(node('Slice', [onehot, `${p}start`, `${p}end`, `${p}axis`], [`${p}col`]));
    return `${p}col`;
  };
  let sum = '';
  const add = (term: string, out: string): void => {
    if (sum === '') sum = term;
    else {
      g.nodes.push(node('Add', [sum, term], [out]));
      sum = out;
    }
  };
  // Every expert's probabilities, computed for every row (the one-hots below keep what each row takes).
  const probs = spec.experts.map((expert, x) => {
    g.nodes.push(node('Sigmoid', [addSpecLogits(g, expert, input, `e${x}_`)], [`e${x}_p`]));
    return `e${x}_p`;
  });
  if (expertsCoverAll(spec)) {
    const onehot = oneHot(gate, 'gate_');
    spec.experts.forEach((_, e) => {
      g.nodes.push(node('Mul', [probs[e], column(onehot, e, `e${e}_gate_`)], [`e${e}_gated`]));
      add(`e${e}_gated`, `e${e}_sum`);
    });
    return sum;
  }
  const serving = modelExperts(spec);
  const groups = new Map<string, number[]>();
  serving.forEach((s, j) => {
    const key = s.map((c) => c.expert).join(',');
    groups.set(key, [...(groups.get(key) ?? []), j]);
  });
  [...groups].forEach(([key, models], gi) => {
    const p = `g${gi}_`;
    const experts = key.split(',').map(Number);
    const push = new Float32Array(k).fill(-1e9);
    for (const e of experts) push[e] = 0;
    g.initializers.push(floatTensor(`${p}push`, [k], push));
    g.nodes.push(node('Add', [gate, `${p}push`], [`${p}logits`]));
    const onehot = oneHot(`${p}logits`, p);
    for (const e of experts) {
      const w = spec.experts[e].models.length;
      const place = new Float32Array(w * M);
      for (const j of models) place[serving[j].find((c) => c.expert === e)!.column * M + j] = 1;
      g.initializers.push(floatTensor(`${p}e${e}_place`, [w, M], place));
      g.nodes.push(
        node('MatMul', [probs[e], `${p}e${e}_place`], [`${p}e${e}_placed`]),
        node('Mul', [`${p}e${e}_placed`, column(onehot, e, `${p}e${e}_gate_`)], [`${p}e${e}_gated`]),
      );
      add(`${p}e${e}_gated`, `${p}e${e}_sum`);
    }
  });
  return sum;
}

export function exportClassifierOnnx(spec: ServedSpec, docString = 'Switchyard success classifier'): Uint8Array {
  const m = spec.models.length;
  const g: Graph = { nodes: [], initializers: [] };
  const input = 'embedding';
  if (isGated(spec)) g.nodes.push(node('Identity', [addGatedProbabilities(g, spec, input)], ['p_success']));
  else g.nodes.push(node('Sigmoid', [addSpecLogits(g, spec, input, '')], ['p_success']));
  const model = buildModel({
    name: 'switchyard_classifier',
    docString,
    inputs: [valueInfo(input, 'float32', ['batch', spec.inputDim])],
    outputs: [valueInfo('p_success', 'float32', ['batch', m])],
    initializers: g.initializers,
    nodes: g.nodes,
    metadata: { models: JSON.stringify(spec.models) },
  });
  return serializeModel(model);
}
