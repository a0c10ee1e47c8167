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
  // The canvas is drawn in a layout effect, so it is painted by the time flushSync returns; wait for one
  // frame to include the browser's paint of it as well.
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
    window.__bench = result;
  });
}, 100);
