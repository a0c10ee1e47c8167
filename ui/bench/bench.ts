// Benchmark page (bench.html): renders the real FlameGraph component with a synthetic profile of N nodes that
// arrives as a FLAMEGRAPH_ARROW record, and reports to window.__bench:
//   firstPaintMs: from the record's bytes being available to the first frame painted (decode, layout, draw),
//   zoomMs: the re-render after a zoom click, measured per zoom: React update and canvas draw (flushSync), then the
//     style and layout of the changed page (breadcrumbs) that the browser would otherwise do before the next frame.
// Each zoom is bracketed by the user-timing marks "kiln-zoom-start" and "kiln-zoom-end", so that a trace tells the
// main thread's CPU time and garbage collections inside it. Driven by e2e/bench.mjs; ?nodes=100000 sets the size.
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
  /** Of each zoom, the time spent in the canvas draw. */
  drawMs: number[];
  drawn: number[];
}

declare global {
  interface Window {
    __bench?: BenchResult;
    __benchZoom?: (node: number) => number;
    /** Sets the search highlight (null: none), as typing in the search box does; re-rendered, not timed. */
    __benchSearch?: (text: string | null) => void;
    /**
     * Allocates short-lived garbage (about 150 MB) until the garbage collector has run a few times: the first
     * scavenges after the profile loaded, which copy whatever the load left in the young generation.
     */
    __benchGarbage?: () => number;
    /** Nodes worth zooming into: the widest path down from the root and a spread of smaller frames. */
    __benchTargets?: { node: number; kind: string }[];
  }
}

const params = new URLSearchParams(location.search);
const nodes = Number(params.get("nodes") ?? 100_000);
const rows = syntheticRows(nodes, 42);
const record = encodeFlamegraph(rows);

const host = document.getElementById("bench")!;
host.style.width = "1400px";
const root = createRoot(host);
const result: BenchResult = { nodes, recordBytes: record.byteLength, decodeMs: 0, firstPaintMs: 0, zoomMs: [], drawMs: [], drawn: [] };
let lastDraw = { ms: 0, drawn: 0 };
let zoom: string[] = [];
let search: string | null = null;
let tree: FlameTree;

function render() {
  root.render(
    createElement(FlameGraph, {
      tree,
      unit: "nanoseconds",
      theme: LIGHT,
      // A new object on every render, as the app's search box gives it.
      highlight: search === null ? null : { text: search, exact: false },
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
    // Zooms start once the page has been idle, as a person's first click comes after the paint has been seen.
    requestIdleCallback(ready);
  });
}, 100);

function ready() {
  window.__benchZoom = (node: number) => {
    performance.mark("kiln-zoom-start");
    const z0 = performance.now();
    flushSync(() => {
      zoom = node <= 0 ? [] : pathTo(tree, node).map((i) => tree.names.get(tree.nameId[i]));
      render();
    });
    // Style and layout of what changed (the breadcrumbs): forced here so that no part of the zoom's work on the
    // main thread is left to the next frame unmeasured.
    void host.offsetHeight;
    const ms = performance.now() - z0;
    performance.mark("kiln-zoom-end");
    result.zoomMs.push(ms);
    result.drawMs.push(lastDraw.ms);
    result.drawn.push(lastDraw.drawn);
    return ms;
  };
  window.__benchSearch = (text: string | null) => {
    search = text;
    flushSync(render);
  };
  window.__benchGarbage = () => {
    const ring = new Array<number[]>(256);
    for (let i = 0; i < 6_000_000; i++) ring[i & 255] = [i, i];
    return ring.length;
  };
  window.__benchTargets = targets(tree);
  window.__bench = result;
}

function targets(t: FlameTree): { node: number; kind: string }[] {
  const out: { node: number; kind: string }[] = [];
  // The widest child at each level, as a person drills down the hot path.
  for (let node = 0; ; ) {
    let best = -1;
    for (let c = node + 1; c < t.end[node]; c = t.end[c]) if (best < 0 || t.cumulative[c] > t.cumulative[best]) best = c;
    if (best < 0 || out.length >= 8) break;
    out.push({ node: best, kind: `hot path, depth ${t.depth[best]}` });
    node = best;
  }
  // Frames of at least 0.5% of the whole anywhere in the tree, spread through it (deterministic).
  const step = Math.max(1, Math.floor(t.size / 400));
  for (let i = 1; i < t.size && out.length < 24; i += step) if (t.cumulative[i] >= t.total * 0.005) out.push({ node: i, kind: `spread, depth ${t.depth[i]}` });
  return out;
}
