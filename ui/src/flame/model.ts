// The flame graph's node model: columnar typed arrays in pre-order (a node's subtree is the contiguous range
// [i, end[i])), so drawing can skip a whole subtree that is off screen or too narrow in O(1).
import { NameTable } from "./names";

export interface FlameTree {
  /** Number of nodes; node 0 is the root. */
  size: number;
  /** Index into `names` of each node's display name. */
  nameId: Int32Array;
  names: NameTable;
  /** Index into `binaries` of each node's binary (mapping file base name); -1 when unknown. */
  binaryId: Int32Array;
  binaries: string[];
  cumulative: Float64Array;
  self: Float64Array;
  /** Present for a diff: the compared profile's value minus the baseline's, per node (cumulative). */
  diff: Float64Array | null;
  depth: Int32Array;
  parent: Int32Array;
  /** Exclusive end of the node's subtree in pre-order. */
  end: Int32Array;
  /** Left edge of the node in value units, relative to the root's left edge. */
  start: Float64Array;
  maxDepth: number;
  total: number;
}

/** Input rows in any order: children lists by row index, as the FLAMEGRAPH_ARROW record gives them. */
export interface FlameRows {
  size: number;
  children: (row: number) => ArrayLike<number>;
  name: (row: number) => string;
  binary: (row: number) => string;
  cumulative: ArrayLike<number>;
  flat: ArrayLike<number>;
  diff: ArrayLike<number> | null;
}

/**
 * Rows as columns, the way the FLAMEGRAPH_ARROW record holds them: children in compressed form (the children of
 * row r are childValues[childOffsets[r] .. childOffsets[r + 1])), names and binaries as ids into small tables
 * (the record's dictionaries). Row 0 is the root.
 */
export interface FlameColumns {
  size: number;
  childOffsets: ArrayLike<number>;
  childValues: ArrayLike<number>;
  nameId: ArrayLike<number>;
  names: NameTable;
  /** -1 when unknown. */
  binaryId: ArrayLike<number>;
  binaries: string[];
  cumulative: ArrayLike<number>;
  flat: ArrayLike<number>;
  diff: ArrayLike<number> | null;
}

/** Converts rows given by callbacks (tests, synthetic data) to columns, interning names and binaries. */
export function rowsToColumns(rows: FlameRows): FlameColumns {
  const n = rows.size;
  const childOffsets = new Int32Array(n + 1);
  const childValues: number[] = [];
  const nameId = new Int32Array(n);
  const binaryId = new Int32Array(n);
  const names: string[] = [];
  const binaries: string[] = [];
  const nameIndex = new Map<string, number>();
  const binaryIndex = new Map<string, number>();
  for (let r = 0; r < n; r++) {
    childOffsets[r] = childValues.length;
    const kids = rows.children(r);
    for (let k = 0; k < kids.length; k++) childValues.push(kids[k]);
    const name = rows.name(r);
    let id = nameIndex.get(name);
    if (id === undefined) nameIndex.set(name, (id = names.push(name) - 1));
    nameId[r] = id;
    const bin = rows.binary(r);
    let b = bin ? binaryIndex.get(bin) : -1;
    if (b === undefined) binaryIndex.set(bin, (b = binaries.push(bin) - 1));
    binaryId[r] = b;
  }
  childOffsets[n] = childValues.length;
  return { size: n, childOffsets, childValues, nameId, names: NameTable.of(names), binaryId, binaries, cumulative: rows.cumulative, flat: rows.flat, diff: rows.diff };
}

/** Lays out rows given by callbacks; see layoutTree. */
export function buildTree(rows: FlameRows): FlameTree {
  return layoutTree(rowsToColumns(rows));
}

/**
 * Lays the rows out in pre-order from row 0: depth, parent, subtree end and the left edge of every node
 * (children placed left to right in their given order after the parent's left edge). Iterative with typed-array
 * stacks, so deep stacks cannot overflow the call stack and 100,000 rows take a few milliseconds.
 */
export function layoutTree(c: FlameColumns): FlameTree {
  const n = c.size;
  const nameId = new Int32Array(n);
  const binaryId = new Int32Array(n);
  const cumulative = new Float64Array(n);
  const self = new Float64Array(n);
  const diff = c.diff ? new Float64Array(n) : null;
  const depth = new Int32Array(n);
  const parent = new Int32Array(n);
  const end = new Int32Array(n);
  const start = new Float64Array(n);
  if (n === 0) {
    return { size: 0, nameId, names: c.names, binaryId, binaries: c.binaries, cumulative, self, diff, depth, parent, end, start, maxDepth: 0, total: 0 };
  }
  const { childOffsets, childValues, cumulative: cum } = c;
  // Pending rows: (row, parent pre-order index, left edge, depth). Every row is pushed at most once per parent
  // edge; a well-formed tree pushes each row once, so n entries suffice (more input is cut off below).
  const stackRow = new Int32Array(n);
  const stackParent = new Int32Array(n);
  const stackStart = new Float64Array(n);
  const stackDepth = new Int32Array(n);
  // Open ancestors by depth, for the subtree ends.
  const open = new Int32Array(n + 1);
  let openLen = 0;
  let top = 1;
  stackRow[0] = 0;
  stackParent[0] = -1;
  let next = 0;
  let maxDepth = 0;
  while (top > 0) {
    top--;
    const row = stackRow[top];
    const d = stackDepth[top];
    const left = stackStart[top];
    const i = next++;
    while (openLen > d) end[open[--openLen]] = i;
    open[openLen++] = i;
    nameId[i] = c.nameId[row];
    binaryId[i] = c.binaryId[row];
    cumulative[i] = cum[row];
    self[i] = c.flat[row];
    if (diff) diff[i] = c.diff![row];
    depth[i] = d;
    parent[i] = stackParent[top];
    start[i] = left;
    if (d > maxDepth) maxDepth = d;
    const k0 = childOffsets[row];
    const k1 = childOffsets[row + 1];
    if (next + top + (k1 - k0) > n) break; // malformed input (a row reached twice): never write past the arrays
    // Children sit left to right from the parent's left edge; pushed last-first so that they pop in order.
    let childRight = left;
    for (let k = k0; k < k1; k++) childRight += cum[childValues[k]];
    for (let k = k1 - 1; k >= k0; k--) {
      const child = childValues[k];
      childRight -= cum[child];
      stackRow[top] = child;
      stackParent[top] = i;
      stackStart[top] = childRight;
      stackDepth[top] = d + 1;
      top++;
    }
  }
  while (openLen > 0) end[open[--openLen]] = next;
  const size = next;
  return {
    size,
    nameId: nameId.subarray(0, size),
    names: c.names,
    binaryId: binaryId.subarray(0, size),
    binaries: c.binaries,
    cumulative: cumulative.subarray(0, size),
    self: self.subarray(0, size),
    diff: diff ? diff.subarray(0, size) : null,
    depth: depth.subarray(0, size),
    parent: parent.subarray(0, size),
    end: end.subarray(0, size),
    start: start.subarray(0, size),
    maxDepth,
    total: cumulative[0],
  };
}

/** The pre-order indices from the root's child down to `node`. */
export function pathTo(tree: FlameTree, node: number): number[] {
  const path: number[] = [];
  for (let i = node; i > 0; i = tree.parent[i]) path.push(i);
  return path.reverse();
}

/** Finds the node reached by following names from the root; the deepest match when the path breaks off. */
export function nodeByPath(tree: FlameTree, names: readonly string[]): number {
  let node = 0;
  for (const name of names) {
    let found = -1;
    for (let c = node + 1; c < tree.end[node]; c = tree.end[c]) {
      if (tree.names.equals(tree.nameId[c], name)) {
        found = c;
        break;
      }
    }
    if (found < 0) break;
    node = found;
  }
  return node;
}

export type Highlight = { text: string; exact: boolean } | null;

/** Marks the nodes whose name matches; `total` counts each matching subtree once (nested matches not again). */
export function matchNodes(tree: FlameTree, highlight: Highlight): { matched: Uint8Array; total: number; count: number } {
  const matched = new Uint8Array(tree.size);
  if (!highlight || !highlight.text) return { matched, total: 0, count: 0 };
  const names = tree.names;
  const nameMatches = new Uint8Array(names.count);
  if (highlight.exact) {
    for (let k = 0; k < names.count; k++) nameMatches[k] = names.equals(k, highlight.text) ? 1 : 0;
  } else if (/[\\^$.*+?()[\]{}|]/.test(highlight.text)) {
    let re: RegExp | null = null;
    try {
      re = new RegExp(highlight.text, "i");
    } catch {
      re = null;
    }
    if (re) for (let k = 0; k < names.count; k++) nameMatches[k] = re.test(names.get(k)) ? 1 : 0;
    else names.markContaining(highlight.text, nameMatches);
  } else names.markContaining(highlight.text, nameMatches);
  let total = 0;
  let count = 0;
  let coveredUntil = 0;
  for (let i = 0; i < tree.size; i++) {
    if (nameMatches[tree.nameId[i]]) {
      matched[i] = 1;
      count++;
      if (i >= coveredUntil) {
        total += tree.cumulative[i];
        coveredUntil = tree.end[i];
      }
    }
  }
  return { matched, total, count };
}
