// Builds and serialises small ONNX models from TypeScript (the default embedder, exported classifiers)
// so no Python toolchain is needed. Thin and generic: it knows protobuf layout, not any model.
//
// Usage:
//   const model = buildModel({
//     name: 'router',
//     inputs: [valueInfo('features', 'float32', ['batch', 100])],
//     outputs: [valueInfo('probs', 'float32', ['batch', 4])],
//     initializers: [floatTensor('W', [100, 4], weights), floatTensor('b', [4], bias)],
//     nodes: [
//       node('Gemm', ['features', 'W', 'b'], ['logits'], { transB: attr.int(0) }),
//       node('Sigmoid', ['logits'], ['probs']),
//     ],
//   });
//   fs.writeFileSync('router.onnx', serializeModel(model));
//
// Output is deterministic: the same spec always encodes to the same bytes (protobuf fields are written
// in field-number order, and nothing here adds timestamps or random names).
import { onnx } from 'onnx-proto';
import { ConfigError } from '../errors';

/** ir_version 8 with opset 17 (ONNX 1.12): both accepted by onnxruntime 1.30 and by every ONNX tool since 2022. */
export const DEFAULT_IR_VERSION = 8;
export const DEFAULT_OPSET = 17;

/** Element types, named like onnxruntime-node's tensor types so both sides read the same. */
export type ElementType = 'float32' | 'float16' | 'float64' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool';

const DATA_TYPE: Record<ElementType, onnx.TensorProto.DataType> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float16: onnx.TensorProto.DataType.FLOAT16,
  float64: onnx.TensorProto.DataType.DOUBLE,
  int64: onnx.TensorProto.DataType.INT64,
  int32: onnx.TensorProto.DataType.INT32,
  int8: onnx.TensorProto.DataType.INT8,
  uint8: onnx.TensorProto.DataType.UINT8,
  bool: onnx.TensorProto.DataType.BOOL,
};

/** The numeric ONNX data type, e.g. for Cast's `to` attribute: `attr.int(dataType('float32'))`. */
export function dataType(type: ElementType): number {
  return DATA_TYPE[type];
}

/**
 * Attribute values are tagged because a JS number cannot say whether it is an int or a float, and ONNX
 * rejects e.g. `axis` given as a float. Build them with the `attr` helpers.
 */
export type AttributeValue =
  | { readonly kind: 'int'; readonly value: number | bigint }
  | { readonly kind: 'ints'; readonly value: readonly (number | bigint)[] }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'floats'; readonly value: readonly number[] }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'strings'; readonly value: readonly string[] }
  | { readonly kind: 'tensor'; readonly value: onnx.ITensorProto };

export const attr = {
  int: (value: number | bigint): AttributeValue => ({ kind: 'int', value }),
  ints: (value: readonly (number | bigint)[]): AttributeValue => ({ kind: 'ints', value }),
  float: (value: number): AttributeValue => ({ kind: 'float', value }),
  floats: (value: readonly number[]): AttributeValue => ({ kind: 'floats', value }),
  string: (value: string): AttributeValue => ({ kind: 'string', value }),
  strings: (value: readonly string[]): AttributeValue => ({ kind: 'strings', value }),
  /** A tensor-valued attribute, e.g. ConstantOfShape's `value` or Constant's `value`. */
  tensor: (value: onnx.ITensorProto): AttributeValue => ({ kind: 'tensor', value }),
};

/** protobufjs takes int64 as a JS number; refuse values that would silently lose precision. */
function toInt64(value: number | bigint, what: string): number {
  const n = typeof value === 'bigint' ? Number(value) : value;
  if (!Number.isSafeInteger(n) || (typeof value === 'bigint' && BigInt(n) !== value)) {
    throw new ConfigError(`${what} must be an integer within ±2^53, got ${String(value)}`, 'onnx_invalid_graph');
  }
  return n;
}

const utf8 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));

function toAttributeProto(name: string, a: AttributeValue): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.kind) {
    case 'int':
      return { name, type: T.INT, i: toInt64(a.value, `attribute ${name}`) };
    case 'ints':
      return { name, type: T.INTS, ints: a.value.map((v) => toInt64(v, `attribute ${name}`)) };
    case 'float':
      return { name, type: T.FLOAT, f: a.value };
    case 'floats':
      return { name, type: T.FLOATS, floats: [...a.value] };
    case 'string':
      return { name, type: T.STRING, s: utf8(a.value) };
    case 'strings':
      return { name, type: T.STRINGS, strings: a.value.map(utf8) };
    case 'tensor':
      return { name, type: T.TENSOR, t: a.value };
  }
}

export interface NodeOptions {
  /** Defaults to `<opType>_<first output>`, which is unique because output names are. */
  name?: string;
  /** Operator domain; '' (the default) is the standard ai.onnx domain. */
  domain?: string;
}

/**
 * One operator. `inputs` may contain '' for an omitted optional input (ONNX convention).
 * Attributes are written sorted by name so that key order in the spec cannot change the bytes.
 */
export function node(
  opType: string,
  inputs: readonly string[],
  outputs: readonly string[],
  attributes: Readonly<Record<string, AttributeValue>> = {},
  options: NodeOptions = {},
): onnx.INodeProto {
  const attribute = Object.keys(attributes)
    .sort()
    .map((key) => toAttributeProto(key, attributes[key]));
  const proto: onnx.INodeProto = {
    name: options.name ?? `${opType}_${outputs[0] ?? 'out'}`,
    opType,
    input: [...inputs],
    output: [...outputs],
    attribute,
  };
  if (options.domain) proto.domain = options.domain;
  return proto;
}

/** A dimension: a number is fixed, a string is a named dynamic dim (dim_param), null is unknown. */
export type Dim = number | string | null;

/** A graph input/output (or intermediate value_info) with element type and shape. */
export function valueInfo(name: string, elementType: ElementType, shape: readonly Dim[]): onnx.IValueInfoProto {
  const dim = shape.map((d): onnx.TensorShapeProto.IDimension => {
    if (d === null) return {};
    if (typeof d === 'string') return { dimParam: d };
    return { dimValue: toInt64(d, `dimension of ${name}`) };
  });
  return { name, type: { tensorType: { elemType: DATA_TYPE[elementType], shape: { dim } } } };
}

function checkDims(name: string, dims: readonly number[], length: number): number[] {
  const fixed = dims.map((d) => toInt64(d, `dimension of ${name}`));
  const expected = fixed.reduce((a, b) => a * b, 1);
  if (expected !== length) {
    throw new ConfigError(`tensor ${name}: dims [${dims.join(', ')}] need ${expected} values, got ${length}`, 'onnx_invalid_graph');
  }
  return fixed;
}

/** Little-endian bytes of a typed array, as ONNX raw_data requires regardless of the host. */
function littleEndianBytes(data: Float32Array | Float64Array | BigInt64Array | Int32Array): Uint8Array {
  const bytes = new Uint8Array(data.byteLength);
  const hostIsLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  if (hostIsLittleEndian) {
    bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return bytes;
  }
  const view = new DataView(bytes.buffer);
  const size = data.BYTES_PER_ELEMENT;
  for (let i = 0; i < data.length; i++) {
    if (data instanceof BigInt64Array) view.setBigInt64(i * size, data[i], true);
    else if (data instanceof Float64Array) view.setFloat64(i * size, data[i], true);
    else if (data instanceof Int32Array) view.setInt32(i * size, data[i], true);
    else view.setFloat32(i * size, data[i], true);
  }
  return bytes;
}

function rawTensor(name: string, type: ElementType, dims: readonly number[], length: number, rawData: Uint8Array): onnx.ITensorProto {
  return { name, dims: checkDims(name, dims, length), dataType: DATA_TYPE[type], rawData };
}

/** A float32 tensor (initializer or attribute value). Plain number arrays are rounded to float32. */
export function floatTensor(name: string, dims: readonly number[], data: Float32Array | readonly number[]): onnx.ITensorProto {
  const values = data instanceof Float32Array ? data : Float32Array.from(data);
  return rawTensor(name, 'float32', dims, values.length, littleEndianBytes(values));
}

export function doubleTensor(name: string, dims: readonly number[], data: Float64Array | readonly number[]): onnx.ITensorProto {
  const values = data instanceof Float64Array ? data : Float64Array.from(data);
  return rawTensor(name, 'float64', dims, values.length, littleEndianBytes(values));
}

/** An int64 tensor, e.g. shapes for Reshape, indices for Gather, `k` for TopK, axes for ReduceSum. */
export function int64Tensor(name: string, dims: readonly number[], data: BigInt64Array | readonly (number | bigint)[]): onnx.ITensorProto {
  const values =
    data instanceof BigInt64Array ? data : BigInt64Array.from(data, (v) => BigInt(toInt64(v, `value of ${name}`)));
  return rawTensor(name, 'int64', dims, values.length, littleEndianBytes(values));
}

export function int32Tensor(name: string, dims: readonly number[], data: Int32Array | readonly number[]): onnx.ITensorProto {
  const values = data instanceof Int32Array ? data : Int32Array.from(data);
  return rawTensor(name, 'int32', dims, values.length, littleEndianBytes(values));
}

export function boolTensor(name: string, dims: readonly number[], data: readonly boolean[]): onnx.ITensorProto {
  return rawTensor(name, 'bool', dims, data.length, Uint8Array.from(data, (b) => (b ? 1 : 0)));
}

export interface ModelSpec {
  /** Graph name, shown by tools such as Netron. */
  name: string;
  nodes: readonly onnx.INodeProto[];
  inputs: readonly onnx.IValueInfoProto[];
  outputs: readonly onnx.IValueInfoProto[];
  /** Constant tensors (weights). They must not also be listed in `inputs` (ir_version ≥ 4 style). */
  initializers?: readonly onnx.ITensorProto[];
  /** Optional shapes of intermediate values; onnxruntime infers them anyway. */
  valueInfo?: readonly onnx.IValueInfoProto[];
  opsetVersion?: number;
  /** Extra operator sets, e.g. `{ domain: 'com.microsoft', version: 1 }`. */
  extraOpsets?: readonly { domain: string; version: number }[];
  irVersion?: number;
  producerName?: string;
  producerVersion?: string;
  docString?: string;
  /** Free-form key/value metadata, readable by onnxruntime; written sorted by key. */
  metadata?: Readonly<Record<string, string>>;
}

/**
 * Checks what onnxruntime would otherwise reject with a terse message: every node input must be a
 * graph input, an initializer or an earlier node's output (nodes in topological order), every name is
 * produced once, and every graph output is produced.
 */
function validateGraph(spec: ModelSpec): void {
  const fail = (msg: string): never => {
    throw new ConfigError(`ONNX graph "${spec.name}": ${msg}`, 'onnx_invalid_graph');
  };
  const known = new Set<string>();
  const define = (name: string | null | undefined, what: string): void => {
    if (!name) fail(`${what} has no name`);
    else if (known.has(name)) fail(`"${name}" is defined twice (${what})`);
    else known.add(name);
  };
  for (const v of spec.inputs) define(v.name, 'graph input');
  for (const t of spec.initializers ?? []) define(t.name, 'initializer');
  for (const n of spec.nodes) {
    for (const input of n.input ?? []) {
      if (input !== '' && !known.has(input)) fail(`node ${n.name} (${n.opType}) reads "${input}" before anything produces it`);
    }
    for (const output of n.output ?? []) if (output !== '') define(output, `output of node ${n.name}`);
  }
  for (const v of spec.outputs) if (!v.name || !known.has(v.name)) fail(`graph output "${v.name}" is never produced`);
}

/** Assembles a ModelProto after validating the graph's wiring. */
export function buildModel(spec: ModelSpec): onnx.IModelProto {
  validateGraph(spec);
  const metadata = spec.metadata ?? {};
  const graph: onnx.IGraphProto = {
    name: spec.name,
    node: [...spec.nodes],
    input: [...spec.inputs],
    output: [...spec.outputs],
    initializer: [...(spec.initializers ?? [])],
    valueInfo: [...(spec.valueInfo ?? [])],
  };
  if (spec.docString) graph.docString = spec.docString;
  return {
    irVersion: spec.irVersion ?? DEFAULT_IR_VERSION,
    opsetImport: [
      { domain: '', version: spec.opsetVersion ?? DEFAULT_OPSET },
      ...(spec.extraOpsets ?? []).map((o) => ({ domain: o.domain, version: o.version })),
    ],
    producerName: spec.producerName ?? 'switchyard',
    producerVersion: spec.producerVersion ?? '1',
    graph,
    metadataProps: Object.keys(metadata)
      .sort()
      .map((key) => ({ key, value: metadata[key] })),
  };
}

/** Encodes a model to the bytes of a .onnx file (or for `InferenceSession.create(bytes)`). */
export function serializeModel(model: onnx.IModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/** Decodes .onnx bytes, e.g. to inspect an exported model in a test. */
export function parseModel(bytes: Uint8Array): onnx.ModelProto {
  return onnx.ModelProto.decode(bytes);
}
