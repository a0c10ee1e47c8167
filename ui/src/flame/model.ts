// The flame graph's node model: columnar typed arrays in pre-order (a node's subtree is the contiguous range
// [i, end[i])), so drawing can skip a whole subtree that is off screen or too narrow in O(1).

export interface FlameTree {
  /** Number of nodes; node 0 is the root. */
  size: number;
  /** Index into `names` of each node's display name. */
  nameId: Int32Array;
  names: string[];
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
 * Lays the rows out in pre-order from row 0: depth, parent, subtree end and the left edge of every node
 * (children placed left to right in their given order after the parent's left edge). Iterative, so deep
 * stacks cannot overflow the call stack.
 */
export function buildTree(rows: FlameRows): FlameTree {
  const n = rows.size;
  const nameId = new Int32Array(n);
  const binaryId = new Int32Array(n);
  const cumulative = new Float64Array(n);
  const self = new Float64Array(n);
  const diff = rows.diff ? new Float64Array(n) : null;
  const depth = new Int32Array(n);
  const parent = new Int32Array(n);
  const end = new Int32Array(n);
  const start = new Float64Array(n);
  const names: string[] = [];
  const nameIndex = new Map<string, number>();
  const binaries: string[] = [];
  const binaryIndex = new Map<string, number>();
  if (n === 0) {
    return { size: 0, nameId, names, binaryId, binaries, cumulative, self, diff, depth, parent, end, start, maxDepth: 0, total: 0 };
  }
  // Explicit stack of (row, parent pre-order index, left edge, depth). Children are pushed in reverse so that
  // they pop in order.
  const stackRow: number[] = [0];
  const stackParent: number[] = [-1];
  const stackStart: number[] = [0];
  const stackDepth: number[] = [0];
  // For computing subtree ends: open ancestors by depth.
  const open: number[] = [];
  let next = 0;
  let maxDepth = 0;
  while (stackRow.length > 0) {
    const row = stackRow.pop()!;
    const p = stackParent.pop()!;
    const left = stackStart.pop()!;
    const d = stackDepth.pop()!;
    if (next >= n) break; // malformed input (a row reached twice); never write past the arrays
    const i = next++;
    while (open.length > d) end[open.pop()!] = i;
    open.push(i);
    const name = rows.name(row);
    let id = nameIndex.get(name);
    if (id === undefined) {
      id = names.length;
      names.push(name);
      nameIndex.set(name, id);
    }
    nameId[i] = id;
    const bin = rows.binary(row);
    if (bin) {
      let b = binaryIndex.get(bin);
      if (b === undefined) {
        b = binaries.length;
        binaries.push(bin);
        binaryIndex.set(bin, b);
      }
      binaryId[i] = b;
    } else {
      binaryId[i] = -1;
    }
    cumulative[i] = Number(rows.cumulative[row]);
    self[i] = Number(rows.flat[row]);
    if (diff) diff[i] = Number(rows.diff![row]);
    depth[i] = d;
    parent[i] = p;
    start[i] = left;
    if (d > maxDepth) maxDepth = d;
    const kids = rows.children(row);
    // Children sit left to right from the parent's left edge; pushed last-first so that they pop in order.
    let childRight = left;
    for (let k = 0; k < kids.length; k++) childRight += Number(rows.cumulative[kids[k]]);
    for (let k = kids.length - 1; k >= 0; k--) {
      childRight -= Number(rows.cumulative[kids[k]]);
      stackRow.push(kids[k]);
      stackParent.push(i);
      stackStart.push(childRight);
      stackDepth.push(d + 1);
    }
  }
  while (open.length > 0) end[open.pop()!] = next;
  const size = next;
  return {
    size,
    nameId: nameId.subarray(0, size),
    names,
    binaryId: binaryId.subarray(0, size),
    binaries,
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
      if (tree.names[tree.nameId[c]] === name) {
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
  const nameMatches = new Uint8Array(tree.names.length);
  const needle = highlight.text.toLowerCase();
  let re: RegExp | null = null;
  if (!highlight.exact && /[\\^$.*+?()[\]{}|]/.test(highlight.text)) {
    try {
      re = new RegExp(highlight.text, "i");
    } catch {
      re = null;
    }
  }
  for (let k = 0; k < tree.names.length; k++) {
    const name = tree.names[k];
    nameMatches[k] = highlight.exact ? (name === highlight.text ? 1 : 0) : re ? (re.test(name) ? 1 : 0) : name.toLowerCase().includes(needle) ? 1 : 0;
  }
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
