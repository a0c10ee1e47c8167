// Benchmark page (bench.html): renders the real FlameGraph component with a synthetic profile of N nodes that
// arrives as a FLAMEGRAPH_ARROW record, and reports to window.__bench:
//   firstPaintMs: from the record's bytes being available to the first frame painted (decode, layout, draw),
//   zoomMs: the re-render after a zoom click (React update + draw), measured per zoom.
// Driven by e2e/bench.mjs through playwright; ?nodes=100000 sets the size.
import { createElement } from "react";
import { createRoot } from "react-dom/client";
import { flushSync } from "react-dom";
import { decodeFlamegraph } from "../src/flame/arrow";
import { encodeFlamegraph } from "../src/flame/encode";
import { syntheticRows } from "../src/flame/synthetic";
import { pathTo, type FlameTree } from "../src/flame/model";
import { FlameGraph } from "../src/components/FlameGraph";
import { LIGHT } from "../src/flame/colors";
import "../src/styles.css";

interface BenchResult {
  nodes: number;
  recordBytes: number;
  decodeMs: number;
  firstPaintMs: number;
  zoomMs: number[];
  drawn: number[];
}

declare global {
  interface Window {
    __bench?: BenchResult;
    __benchZoom?: (node: number) => number;
    /** Nodes worth zooming into: the widest path down from the root and a spread of smaller frames. */
    __benchTargets?: number[];
  }
}

const params = new URLSearchParams(location.search);
const nodes = Number(params.get("nodes") ?? 100_000);
const rows = syntheticRows(nodes, 42);
const record = encodeFlamegraph(rows);

const host = document.getElementById("bench")!;
host.style.width = "1400px";
const root = createRoot(host);
const result: BenchResult = { nodes, recordBytes: record.byteLength, decodeMs: 0, firstPaintMs: 0, zoomMs: [], drawn: [] };
let lastDraw = { ms: 0, drawn: 0 };
let zoom: string[] = [];
let tree: FlameTree;

function render() {
  root.render(
    createElement(FlameGraph, {
      tree,
      unit: "nanoseconds",
      theme: LIGHT,
      highlight: null,
      zoom,
      onZoom: (z: string[]) => {
        zoom = z;
        render();
      },
      onPaint: (ms: number, drawn: number) => {
        lastDraw = { ms, drawn };
      },
    }),
  );
}

// Let the page settle (fonts, layout) before timing.
setTimeout(() => {
  const t0 = performance.now();
  tree = decodeFlamegraph(record, false);
  result.decodeMs = performance.now() - t0;
  flushSync(render);
  // The canvas is drawn in layout effects (after the width is measured, also before paint), so it is drawn by the
  // time flushSync returns; the next animation frame includes the browser's paint of it as well.
  if (lastDraw.drawn === 0) throw new Error("the flame graph was not drawn synchronously");
  requestAnimationFrame(() => {
    result.firstPaintMs = performance.now() - t0;
    result.drawn.push(lastDraw.drawn);
    window.__benchZoom = (node: number) => {
      const z0 = performance.now();
      flushSync(() => {
        zoom = node <= 0 ? [] : pathTo(tree, node).map((i) => tree.names[tree.nameId[i]]);
        render();
      });
      const ms = performance.now() - z0;
      result.zoomMs.push(ms);
      result.drawn.push(lastDraw.drawn);
      return ms;
    };
    window.__benchTargets = targets(tree);
    window.__bench = result;
  });
}, 100);

function targets(t: FlameTree): number[] {
  const out: number[] = [];
  // The widest child at each level, as a person drills down the hot path.
  for (let node = 0; ; ) {
    let best = -1;
    for (let c = node + 1; c < t.end[node]; c = t.end[c]) if (best < 0 || t.cumulative[c] > t.cumulative[best]) best = c;
    if (best < 0 || out.length >= 8) break;
    out.push(best);
    node = best;
  }
  // Frames of at least 0.5% of the whole anywhere in the tree, spread through it (deterministic).
  const step = Math.max(1, Math.floor(t.size / 400));
  for (let i = 1; i < t.size && out.length < 24; i += step) if (t.cumulative[i] >= t.total * 0.005) out.push(i);
  return out;
}
