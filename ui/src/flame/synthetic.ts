// Synthetic flame graph rows of a chosen size, for the benchmark page and tests.
import type { FlameRows } from "./model";

/**
 * A tree of `size` nodes made deterministic by `seed`: each node gets a few children with skewed values,
 * like real profiles where a few paths dominate. Returned in creation order with children lists, the
 * shape of the FLAMEGRAPH_ARROW record.
 */
export function syntheticRows(size: number, seed = 1): FlameRows & { childList: number[][]; names: string[]; binaries: string[] } {
  let s = seed >>> 0 || 1;
  const rand = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
  const childList: number[][] = [[]];
  const depth = [0];
  const names = ["root"];
  const binaries = [""];
  const binaryNames = ["kiln", "libc.so.6", "libcoreclr.so", "app", "libssl.so.3", "[kernel.kallsyms]"];
  // A random recursive tree: each new node hangs under a uniformly chosen earlier node, which gives a depth
  // of about e·ln(size) (≈ 31 for 100,000 nodes), close to real CPU profiles.
  for (let i = 1; i < size; i++) {
    const p = Math.floor(rand() * i);
    childList[p].push(i);
    childList.push([]);
    depth.push(depth[p] + 1);
    names.push(`pkg${Math.floor(rand() * 400)}.Function${i % 997}_${Math.floor(rand() * 50)}`);
    binaries.push(binaryNames[Math.floor(rand() * binaryNames.length)]);
  }
  const flat = new Float64Array(size);
  for (let i = 0; i < size; i++) flat[i] = childList[i].length === 0 ? 1 + Math.floor(rand() * rand() * 5000) : Math.floor(rand() * 50);
  const cumulative = new Float64Array(size);
  // Children always have larger indices than parents, so a reverse sweep sums subtrees.
  const parent = new Int32Array(size).fill(-1);
  for (let i = 0; i < size; i++) for (const c of childList[i]) parent[c] = i;
  for (let i = size - 1; i >= 0; i--) {
    cumulative[i] += flat[i];
    if (parent[i] >= 0) cumulative[parent[i]] += cumulative[i];
  }
  return {
    size,
    childList,
    names,
    binaries,
    children: (row) => childList[row],
    name: (row) => names[row],
    binary: (row) => binaries[row],
    cumulative,
    flat,
    diff: null,
  };
}
