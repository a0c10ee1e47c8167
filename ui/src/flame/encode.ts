// Writes flame graph rows as a FLAMEGRAPH_ARROW-shaped Arrow IPC stream (the columns the UI reads, with the
// types Kiln's server emits: dictionary-encoded Binary names, List<Uint32> children, Uint64 values). Used by
// the benchmark page and tests to feed the same decoder the real server feeds.
import {
  Binary,
  Dictionary,
  Field,
  Int32,
  List,
  Table,
  Uint32,
  makeData,
  makeVector,
  tableToIPC,
  vectorFromArray,
} from "apache-arrow";

export interface EncodeInput {
  childList: number[][];
  names: string[];
  binaries: string[];
  cumulative: ArrayLike<number>;
  flat: ArrayLike<number>;
  diff?: ArrayLike<number> | null;
}

const encoder = new TextEncoder();

function dictionaryColumn(values: string[]) {
  const index = new Map<string, number>();
  const dict: Uint8Array[] = [];
  const keys = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    let k = index.get(values[i]);
    if (k === undefined) {
      k = dict.length;
      index.set(values[i], k);
      dict.push(encoder.encode(values[i]));
    }
    keys[i] = k;
  }
  const dictionary = vectorFromArray(dict, new Binary());
  return makeVector(makeData({ type: new Dictionary(new Binary(), new Int32()), length: values.length, data: keys, dictionary }));
}

function uint64(values: ArrayLike<number>) {
  return makeVector(BigUint64Array.from(Array.from(values, (v) => BigInt(Math.round(v)))));
}

export function encodeFlamegraph(input: EncodeInput): Uint8Array {
  const n = input.names.length;
  const offsets = new Int32Array(n + 1);
  let total = 0;
  for (let i = 0; i < n; i++) {
    offsets[i] = total;
    total += input.childList[i].length;
  }
  offsets[n] = total;
  const flatChildren = new Uint32Array(total);
  let k = 0;
  for (const c of input.childList) for (const v of c) flatChildren[k++] = v;
  const childType = new List(new Field("item", new Uint32(), false));
  const children = makeVector(
    makeData({ type: childType, length: n, valueOffsets: offsets, child: makeData({ type: new Uint32(), length: total, data: flatChildren }) }),
  );
  const columns: Record<string, ReturnType<typeof makeVector>> = {
    function_name: dictionaryColumn(input.names),
    mapping_file: dictionaryColumn(input.binaries),
    location_address: uint64(new Float64Array(n)),
    children,
    cumulative: uint64(input.cumulative),
    flat: uint64(input.flat),
  };
  if (input.diff) columns.diff = makeVector(BigInt64Array.from(Array.from(input.diff, (v) => BigInt(Math.round(v)))));
  return tableToIPC(new Table(columns), "stream");
}
