import { describe, expect, it } from "vitest";
import { buildTree, matchNodes, nodeByPath, pathTo, type FlameRows } from "./model";
import { forEachVisible, hitTest, ROW_HEIGHT } from "./render";
import { decodeFlamegraph } from "./arrow";
import { encodeFlamegraph } from "./encode";
import { NameTable } from "./names";
import { syntheticRows } from "./synthetic";

// root(100) -> main(90: self 10) -> [a(50), b(30)] ; root -> gc(10)
// Rows are given breadth-first (the server writes them depth-first; any order is valid): 0 root, 1 main, 2 gc, 3 a, 4 b.
const rows: FlameRows = {
  size: 5,
  children: (r) => [[1, 2], [3, 4], [], [], []][r],
  name: (r) => ["root", "main", "gc", "a", "b"][r],
  binary: (r) => ["", "app", "libc.so.6", "app", "app"][r],
  cumulative: [100, 90, 10, 50, 30],
  flat: [0, 10, 10, 50, 30],
  diff: null,
};

describe("buildTree", () => {
  const t = buildTree(rows);
  it("orders nodes in pre-order with subtree ends", () => {
    expect(Array.from(t.nameId, (id) => t.names.get(id))).toEqual(["root", "main", "a", "b", "gc"]);
    expect(Array.from(t.end)).toEqual([5, 4, 3, 4, 5]);
    expect(Array.from(t.depth)).toEqual([0, 1, 2, 2, 1]);
    expect(Array.from(t.parent)).toEqual([-1, 0, 1, 1, 0]);
    expect(t.maxDepth).toBe(2);
    expect(t.total).toBe(100);
  });
  it("places children left to right from the parent's left edge", () => {
    expect(Array.from(t.start)).toEqual([0, 0, 0, 50, 90]);
  });
  it("interns binaries, unknown as -1", () => {
    expect(t.binaries).toEqual(["app", "libc.so.6"]);
    expect(Array.from(t.binaryId)).toEqual([-1, 0, 0, 0, 1]);
  });
  it("finds paths both ways", () => {
    expect(pathTo(t, 3)).toEqual([1, 3]);
    expect(nodeByPath(t, ["main", "b"])).toBe(3);
    expect(nodeByPath(t, ["main", "missing"])).toBe(1);
    expect(nodeByPath(t, [])).toBe(0);
  });
  it("handles a deep chain without recursion", () => {
    const n = 50_000;
    const deep = buildTree({
      size: n,
      children: (r) => (r + 1 < n ? [r + 1] : []),
      name: (r) => `f${r}`,
      binary: () => "",
      cumulative: new Float64Array(n).fill(1),
      flat: new Float64Array(n),
      diff: null,
    });
    expect(deep.maxDepth).toBe(n - 1);
    expect(deep.end[0]).toBe(n);
  });
});

describe("search", () => {
  const t = buildTree(rows);
  it("counts a matching subtree once", () => {
    const r = matchNodes(t, { text: "a", exact: false }); // main, a, gc? no: "main" has a, "a", "gc" no
    expect(r.count).toBe(2);
    expect(r.total).toBe(90);
  });
  it("supports exact names and regular expressions", () => {
    expect(matchNodes(t, { text: "b", exact: true }).total).toBe(30);
    expect(matchNodes(t, { text: "^(a|gc)$", exact: false }).total).toBe(60);
    expect(matchNodes(t, null).count).toBe(0);
  });
});

describe("culling and hit testing", () => {
  const t = buildTree(rows);
  const vp = { zoom: 0, width: 1000, firstRow: 0, lastRow: 100 };
  it("visits every node wide enough, with pixel geometry", () => {
    const seen: [string, number, number][] = [];
    forEachVisible(t, vp, (i, x, w) => seen.push([t.names.get(t.nameId[i]), x, w]));
    expect(seen).toEqual([
      ["root", 0, 1000],
      ["main", 0, 900],
      ["a", 0, 500],
      ["b", 500, 300],
      ["gc", 900, 100],
    ]);
  });
  it("zooming keeps ancestors full width and skips other subtrees", () => {
    const seen: [string, number, number][] = [];
    forEachVisible(t, { ...vp, zoom: 3 }, (i, x, w) => seen.push([t.names.get(t.nameId[i]), x, w]));
    expect(seen).toEqual([
      ["root", 0, 1000],
      ["main", 0, 1000],
      ["b", 0, 1000],
    ]);
  });
  it("skips nodes narrower than half a pixel with their subtree", () => {
    const seen: string[] = [];
    forEachVisible(t, { ...vp, width: 4 }, (i) => seen.push(t.names.get(t.nameId[i])));
    expect(seen).toEqual(["root", "main", "a", "b"]); // gc is 0.4 px
  });
  it("draws only the visible rows", () => {
    const seen: string[] = [];
    forEachVisible(t, { ...vp, firstRow: 1, lastRow: 1 }, (i) => seen.push(t.names.get(t.nameId[i])));
    expect(seen).toEqual(["main", "gc"]);
  });
  it("finds the node under a point", () => {
    expect(hitTest(t, vp, 10, 0)).toBe(0);
    expect(hitTest(t, vp, 950, ROW_HEIGHT + 1)).toBe(4);
    expect(hitTest(t, vp, 600, 2 * ROW_HEIGHT + 5)).toBe(3);
    expect(hitTest(t, vp, 950, 2 * ROW_HEIGHT + 5)).toBe(-1);
    expect(hitTest(t, { ...vp, zoom: 3 }, 10, 2 * ROW_HEIGHT)).toBe(3);
  });
  it("visits few nodes of a 100,000-node tree at full view", () => {
    const big = buildTree(syntheticRows(100_000, 7));
    expect(big.size).toBe(100_000);
    let sum = 0;
    const visited = forEachVisible(big, { zoom: 0, width: 1200, firstRow: 0, lastRow: 1000 }, () => sum++);
    expect(visited).toBe(sum);
    expect(visited).toBeLessThan(20_000);
    expect(big.maxDepth).toBeLessThan(80);
  });
});

describe("Arrow decoding", () => {
  it("reads the record the server emits (dictionary Binary names, Uint64 values, List<Uint32> children)", () => {
    const bytes = encodeFlamegraph({
      childList: [[1, 2], [3, 4], [], [], []],
      names: ["", "main", "gc", "a", "b"],
      binaries: ["", "/usr/bin/app", "/lib/libc.so.6", "/usr/bin/app", "/usr/bin/app"],
      cumulative: [100, 90, 10, 50, 30],
      flat: [0, 10, 10, 50, 30],
      diff: [20, 20, 0, 30, -10],
    });
    const t = decodeFlamegraph(bytes, true);
    expect(Array.from(t.nameId, (id) => t.names.get(id))).toEqual(["root", "main", "a", "b", "gc"]);
    expect(t.binaries).toEqual(["app", "libc.so.6"]);
    expect(Array.from(t.cumulative)).toEqual([100, 90, 50, 30, 10]);
    expect(Array.from(t.diff!)).toEqual([20, 20, 30, -10, 0]);
    expect(Array.from(t.start)).toEqual([0, 0, 0, 50, 90]);
  });
  it("converts 64-bit values exactly, signed diffs included, and names unnamed frames", () => {
    const big = 2 ** 40 + 12345;
    const bytes = encodeFlamegraph({
      childList: [[1, 2], [], []],
      names: ["", "", "work"],
      binaries: ["", "", "/usr/bin/app"],
      cumulative: [big + 7, 7, big],
      flat: [0, 7, big],
      diff: [-(2 ** 33) - 1, 3, -(2 ** 33) - 4],
    });
    const t = decodeFlamegraph(bytes, true);
    expect(Array.from(t.cumulative)).toEqual([big + 7, 7, big]);
    expect(Array.from(t.diff!)).toEqual([-(2 ** 33) - 1, 3, -(2 ** 33) - 4]);
    expect(Array.from(t.nameId, (id) => t.names.get(id))).toEqual(["root", "[unknown]", "work"]);
    expect(Array.from(t.binaryId)).toEqual([-1, -1, 0]);
  });
  it("lays out the same tree from the record as from rows", () => {
    const rows = syntheticRows(5_000, 3);
    const fromRows = buildTree(rows);
    const fromRecord = decodeFlamegraph(encodeFlamegraph(rows), false);
    expect(fromRecord.size).toBe(fromRows.size);
    expect(Array.from(fromRecord.start)).toEqual(Array.from(fromRows.start));
    expect(Array.from(fromRecord.end)).toEqual(Array.from(fromRows.end));
    const names = (t: typeof fromRows) => Array.from(t.nameId, (id) => t.names.get(id));
    expect(names(fromRecord).slice(1)).toEqual(names(fromRows).slice(1));
  });
});

describe("names", () => {
  it("decodes non-ASCII names as well as ASCII ones", () => {
    const bytes = encodeFlamegraph({
      childList: [[1, 2], [], []],
      names: ["", "std::vector<Größe>::push", "plain"],
      binaries: ["", "/usr/lib/libä.so", "/usr/bin/app"],
      cumulative: [3, 2, 1],
      flat: [0, 2, 1],
    });
    const t = decodeFlamegraph(bytes, false);
    expect(Array.from(t.nameId, (id) => t.names.get(id))).toEqual(["root", "std::vector<Größe>::push", "plain"]);
    expect(t.binaries).toEqual(["libä.so", "app"]);
  });
});

describe("malformed input", () => {
  it("stops instead of writing past its arrays when a row is reached twice", () => {
    const t = buildTree({
      size: 3,
      children: (r) => [[1, 1], [2], []][r],
      name: (r) => `f${r}`,
      binary: () => "",
      cumulative: [3, 1, 1],
      flat: [1, 0, 1],
      diff: null,
    });
    expect(t.size).toBeLessThanOrEqual(3);
    expect(t.end[0]).toBe(t.size);
  });
});

describe("name table", () => {
  const names = NameTable.of(["", "main", "runtime.mallocgc", "Größe::push", "MAIN", "ab", "c"]);
  it("gives each name back and compares without making strings", () => {
    expect(Array.from({ length: names.count }, (_, k) => names.get(k))).toEqual(["", "main", "runtime.mallocgc", "Größe::push", "MAIN", "ab", "c"]);
    expect(names.equals(1, "main")).toBe(true);
    expect(names.equals(1, "mai")).toBe(false);
    expect(names.equals(4, "main")).toBe(false);
    expect(names.equals(0, "")).toBe(true);
    expect(names.length(3)).toBe(11);
    expect(names.concat(["root"]).get(7)).toBe("root");
  });
  it("marks names containing a text, ignoring case, never across two names", () => {
    const marked = (needle: string, t = names) => {
      const out = new Uint8Array(t.count);
      t.markContaining(needle, out);
      return Array.from(out);
    };
    expect(marked("main")).toEqual([0, 1, 0, 0, 1, 0, 0]);
    expect(marked("GRÖ")).toEqual([0, 0, 0, 1, 0, 0, 0]);
    expect(marked("bc")).toEqual([0, 0, 0, 0, 0, 0, 0]);
    expect(marked("c")).toEqual([0, 0, 1, 0, 0, 0, 1]);
    // "İ" lower-cases to two code units: the offsets no longer fit the lower-cased text, so names are searched one by one.
    expect(marked("i", NameTable.of(["İx", "main", "b"]))).toEqual([1, 1, 0]);
  });
  it("matches the search of the names one by one on a large profile", () => {
    const t = buildTree(syntheticRows(5_000, 3));
    const list = Array.from({ length: t.names.count }, (_, k) => t.names.get(k));
    for (const needle of ["function1", "PKG3", "_4", "9.f"]) {
      const want = list.map((n) => (n.toLowerCase().includes(needle.toLowerCase()) ? 1 : 0));
      const out = new Uint8Array(t.names.count);
      t.names.markContaining(needle, out);
      expect(Array.from(out)).toEqual(want);
    }
  });
});
