// Reads Parca's FLAMEGRAPH_ARROW and TABLE_ARROW records (the same ones Grafana's Parca data source reads).
// Column access goes straight to the typed arrays of the single record batch; dictionary values (Binary or
// Utf8) are decoded once per distinct string.
import { tableFromIPC, type Data, type Vector } from "apache-arrow";
import { buildTree, type FlameTree } from "./model";

const decoder = new TextDecoder();

type Num = ArrayLike<number>;

/** A numeric column as a plain number array (64-bit integers converted; null is 0). */
function numbers(vector: Vector | null, n: number): Num {
  if (!vector) return new Float64Array(n);
  const out = new Float64Array(n);
  let row = 0;
  for (const data of vector.data as Data[]) {
    const values = data.values as ArrayLike<number | bigint>;
    const off = data.offset;
    const bigint = values instanceof BigInt64Array || values instanceof BigUint64Array;
    for (let k = 0; k < data.length; k++) {
      const v = values[off + k];
      out[row++] = bigint ? Number(v as bigint) : (v as number);
    }
    if (data.nullCount > 0) {
      for (let k = 0; k < data.length; k++) if (!data.getValid(k)) out[row - data.length + k] = 0;
    }
  }
  return out;
}

/** A dictionary-encoded (or plain) string column: one decoded string per row, "" for null. */
export function strings(vector: Vector | null, n: number): string[] {
  const out = new Array<string>(n).fill("");
  if (!vector) return out;
  let row = 0;
  for (const data of vector.data as Data[]) {
    const dict = data.dictionary as Vector | undefined;
    if (dict) {
      const decoded = new Array<string | undefined>(dict.length);
      const idx = data.values as ArrayLike<number>;
      for (let k = 0; k < data.length; k++, row++) {
        if (!data.getValid(k)) continue;
        const d = Number(idx[data.offset + k]);
        let s = decoded[d];
        if (s === undefined) {
          const v = dict.get(d) as Uint8Array | string | null;
          s = v == null ? "" : typeof v === "string" ? v : decoder.decode(v);
          decoded[d] = s;
        }
        out[row] = s;
      }
    } else {
      for (let k = 0; k < data.length; k++, row++) {
        const v = vector.get(row) as Uint8Array | string | null;
        out[row] = v == null ? "" : typeof v === "string" ? v : decoder.decode(v);
      }
    }
  }
  return out;
}

export function basename(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash >= 0 ? path.slice(slash + 1) : path;
}

/** Decodes a FLAMEGRAPH_ARROW record into the pre-order tree the renderer draws. */
export function decodeFlamegraph(record: Uint8Array, isDiff: boolean): FlameTree {
  const table = tableFromIPC(record);
  const n = table.numRows;
  const children = table.getChild("children");
  if (!children) throw new Error("the flame graph record has no children column");
  const childData = children.data[0] as Data;
  const offsets = childData.valueOffsets as Int32Array;
  const childValues = (childData.children[0] as Data).values as Uint32Array;
  const childBase = childData.offset;
  const names = strings(table.getChild("function_name"), n);
  const files = strings(table.getChild("mapping_file"), n);
  const address = numbers(table.getChild("location_address"), n);
  const binaryNames = new Map<string, string>();
  return buildTree({
    size: n,
    children: (row) => childValues.subarray(offsets[childBase + row], offsets[childBase + row + 1]),
    name: (row) => (row === 0 ? "root" : names[row] || (address[row] ? `0x${address[row].toString(16)}` : "[unknown]")),
    binary: (row) => {
      const f = files[row];
      if (!f) return "";
      let b = binaryNames.get(f);
      if (b === undefined) binaryNames.set(f, (b = basename(f)));
      return b;
    },
    cumulative: numbers(table.getChild("cumulative"), n),
    flat: numbers(table.getChild("flat"), n),
    diff: isDiff ? numbers(table.getChild("diff"), n) : null,
  });
}

export interface FunctionRow {
  name: string;
  binary: string;
  flat: number;
  cumulative: number;
  flatDiff: number;
  cumulativeDiff: number;
}

/** Decodes a TABLE_ARROW record: one row per function (or address when unsymbolized). */
export function decodeTable(record: Uint8Array): FunctionRow[] {
  const table = tableFromIPC(record);
  const n = table.numRows;
  const names = strings(table.getChild("function_name"), n);
  const files = strings(table.getChild("mapping_file"), n);
  const address = numbers(table.getChild("location_address"), n);
  const flat = numbers(table.getChild("flat"), n);
  const cum = numbers(table.getChild("cumulative"), n);
  const flatDiff = numbers(table.getChild("flat_diff"), n);
  const cumDiff = numbers(table.getChild("cumulative_diff"), n);
  const rows: FunctionRow[] = new Array(n);
  for (let i = 0; i < n; i++) {
    rows[i] = {
      name: names[i] || (address[i] ? `0x${address[i].toString(16)}` : "[unknown]"),
      binary: basename(files[i]),
      flat: flat[i],
      cumulative: cum[i],
      flatDiff: flatDiff[i],
      cumulativeDiff: cumDiff[i],
    };
  }
  return rows;
}
