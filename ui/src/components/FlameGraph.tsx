import { memo, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import { binaryPalette, diffColor, shareChange, type Theme } from "../flame/colors";
import { matchNodes, nodeByPath, pathTo, type FlameTree, type Highlight } from "../flame/model";
import { draw, FONT, hitTest, ROW_HEIGHT, type DrawOptions, type Viewport } from "../flame/render";
import { formatPercent, formatValue } from "../format";
import { useWidth } from "../hooks";

interface Props {
  tree: FlameTree;
  unit: string;
  theme: Theme;
  highlight: Highlight;
  zoom: string[];
  onZoom: (path: string[]) => void;
  /** Time of the last paint, for the benchmark page. */
  onPaint?: (ms: number, drawn: number) => void;
}

const MAX_HEIGHT = 640;

let measuredCharWidth = 0;
function charWidth(ctx: CanvasRenderingContext2D): number {
  if (!measuredCharWidth) {
    ctx.font = FONT;
    measuredCharWidth = ctx.measureText("abcdefghijklmnopqrstuvwxyz").width / 26 || 7;
  }
  return measuredCharWidth;
}

/** Canvas icicle graph with hover details, click to zoom, breadcrumbs and keyboard navigation. */
export function FlameGraph({ tree, unit, theme, highlight, zoom, onZoom, onPaint }: Props) {
  const [boxRef, width] = useWidth<HTMLDivElement>();
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const scrollRef = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [hover, setHover] = useState<{ node: number; x: number; y: number } | null>(null);
  const zoomNode = useMemo(() => nodeByPath(tree, zoom), [tree, zoom]);
  // The keyboard focus belongs to the tree and zoom it was set in: a new profile or zoom resets it (to the zoomed
  // node), during this render rather than in an effect that would render and draw a second time.
  const [focus, setFocus] = useState({ node: -1, tree, zoomNode });
  if (focus.node >= 0 && (focus.tree !== tree || focus.zoomNode !== zoomNode)) setFocus({ node: -1, tree, zoomNode });
  const focused = focus.tree === tree && focus.zoomNode === zoomNode ? focus.node : -1;
  const setFocused = (node: number) => setFocus({ node, tree, zoomNode });
  // By value: the app passes a new highlight object on every render, and matching 100,000 names is not free.
  const highlightText = highlight?.text ?? "";
  const highlightExact = highlight?.exact ?? false;
  const matches = useMemo(
    () => (highlightText ? matchNodes(tree, { text: highlightText, exact: highlightExact }) : null),
    [tree, highlightText, highlightExact],
  );
  const fullHeight = (tree.maxDepth + 1) * ROW_HEIGHT;
  const viewHeight = Math.min(fullHeight, MAX_HEIGHT);
  const diffTotals = tree.diff ? { compared: tree.cumulative[0], baseline: tree.cumulative[0] - tree.diff[0] } : null;

  const viewport = (top: number): Viewport => ({
    zoom: zoomNode,
    width,
    firstRow: Math.floor(top / ROW_HEIGHT),
    lastRow: Math.ceil((top + viewHeight) / ROW_HEIGHT),
  });

  useLayoutEffect(() => {
    const canvas = canvasRef.current;
    if (!canvas || width === 0) return;
    const started = performance.now();
    const ratio = window.devicePixelRatio || 1;
    const w = Math.round(width * ratio);
    const h = Math.round(viewHeight * ratio);
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    const ctx = canvas.getContext("2d", { alpha: false })!;
    const vp = viewport(scrollTop);
    // Rows are drawn from the first visible one; the sub-row scroll offset is applied by translating.
    const offset = scrollTop - vp.firstRow * ROW_HEIGHT;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    const drawn = draw(ctx, tree, vp, viewHeight + ROW_HEIGHT, {
      theme,
      matched: matches ? matches.matched : null,
      hovered: hover?.node ?? -1,
      focused,
      ratio,
      charWidth: charWidth(ctx),
      offsetY: -offset,
    });
    onPaint?.(performance.now() - started, drawn);
  });

  // Once a profile is drawn, zoom into its widest frame off screen while the page is idle: the first real zoom then
  // runs code the engine has seen zoomed (branches the root view never takes, the label cache) instead of compiling
  // it during the click.
  useEffect(() => {
    if (width === 0 || tree.size === 0) return;
    return whenIdle(() => {
      const ratio = window.devicePixelRatio || 1;
      warmUp(tree, width, viewHeight, { theme, matched: null, hovered: -1, focused: -1, ratio, charWidth: measuredCharWidth || 7 });
    });
    // eslint-disable-next-line react-hooks/exhaustive-deps -- once per profile, theme and width: not per zoom
  }, [tree, theme, width]);

  const zoomTo = (node: number) => onZoom(node <= 0 ? [] : pathTo(tree, node).map((i) => tree.names.get(tree.nameId[i])));

  const nodeAt = (e: React.MouseEvent) => {
    const rect = canvasRef.current!.getBoundingClientRect();
    return hitTest(tree, viewport(scrollTop), e.clientX - rect.left, e.clientY - rect.top + scrollTop);
  };

  const onKey = (e: React.KeyboardEvent) => {
    const cur = focused >= 0 ? focused : zoomNode;
    let next = -1;
    if (e.key === "ArrowDown") {
      // the widest child
      let best = -1;
      for (let c = cur + 1; c < tree.end[cur]; c = tree.end[c]) if (best < 0 || tree.cumulative[c] > tree.cumulative[best]) best = c;
      next = best;
    } else if (e.key === "ArrowUp") next = tree.parent[cur];
    else if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
      const p = tree.parent[cur];
      if (p >= 0) {
        const siblings: number[] = [];
        for (let c = p + 1; c < tree.end[p]; c = tree.end[c]) siblings.push(c);
        const k = siblings.indexOf(cur) + (e.key === "ArrowRight" ? 1 : -1);
        next = siblings[k] ?? -1;
      }
    } else if (e.key === "Enter" || e.key === " ") {
      zoomTo(cur);
      e.preventDefault();
      return;
    } else if (e.key === "Escape") {
      onZoom([]);
      e.preventDefault();
      return;
    } else return;
    e.preventDefault();
    if (next >= 0) {
      setFocused(next);
      const y = tree.depth[next] * ROW_HEIGHT;
      const sc = scrollRef.current;
      if (sc && (y < sc.scrollTop || y + ROW_HEIGHT > sc.scrollTop + viewHeight)) sc.scrollTop = y - viewHeight / 2;
    }
  };

  const detail = hover ? hover.node : focused;

  return (
    <div className="flame" ref={boxRef}>
      <Crumbs tree={tree} zoomNode={zoomNode} onZoom={onZoom} />
      <div
        className="flame-scroll"
        ref={scrollRef}
        style={{ height: viewHeight }}
        onScroll={(e) => setScrollTop((e.target as HTMLDivElement).scrollTop)}
      >
        <div style={{ height: fullHeight, position: "relative" }}>
          <canvas
            ref={canvasRef}
            className="flame-canvas"
            data-testid="flamegraph"
            style={{ width: width || "100%", height: viewHeight, position: "sticky", top: 0, display: "block" }}
            tabIndex={0}
            role="img"
            aria-label={`Flame graph of ${tree.size} frames. Arrow keys move between frames, Enter zooms, Escape resets.`}
            onMouseMove={(e) => {
              const node = nodeAt(e);
              const box = boxRef.current!.getBoundingClientRect();
              setHover(node >= 0 ? { node, x: e.clientX - box.left, y: e.clientY - box.top } : null);
            }}
            onMouseLeave={() => setHover(null)}
            onClick={(e) => {
              const node = nodeAt(e);
              if (node >= 0) zoomTo(node === zoomNode ? tree.parent[node] : node);
            }}
            onKeyDown={onKey}
          />
        </div>
      </div>
      {detail >= 0 && detail < tree.size && (
        <div
          className={hover ? "tooltip" : "tooltip docked"}
          role="status"
          style={hover ? { left: Math.min(hover.x + 14, Math.max(0, width - 340)), top: hover.y + 18 } : undefined}
        >
          <div className="tt-name">{tree.names.get(tree.nameId[detail])}</div>
          <table>
            <tbody>
              <tr>
                <th>Binary</th>
                <td>{tree.binaryId[detail] >= 0 ? tree.binaries[tree.binaryId[detail]] : "unknown"}</td>
              </tr>
              <tr>
                <th>Total</th>
                <td>
                  {formatValue(tree.cumulative[detail], unit)} ({formatPercent(tree.cumulative[detail], tree.total)})
                </td>
              </tr>
              <tr>
                <th>Self</th>
                <td>
                  {formatValue(tree.self[detail], unit)} ({formatPercent(tree.self[detail], tree.total)})
                </td>
              </tr>
              {tree.diff && diffTotals && (
                <>
                  <tr>
                    <th>Baseline</th>
                    <td>
                      {formatValue(tree.cumulative[detail] - tree.diff[detail], unit)} ({formatPercent(tree.cumulative[detail] - tree.diff[detail], diffTotals.baseline)})
                    </td>
                  </tr>
                  <tr>
                    <th>Change</th>
                    <td>{formatShareChange(shareChange(tree.cumulative[detail], tree.diff[detail], diffTotals.compared, diffTotals.baseline))}</td>
                  </tr>
                </>
              )}
            </tbody>
          </table>
        </div>
      )}
      <Legend tree={tree} theme={theme} />
    </div>
  );
}

/** Runs `work` when the page is next idle (or after a short timeout where idle callbacks are missing); returns a cancel. */
function whenIdle(work: () => void): () => void {
  if (typeof requestIdleCallback === "function") {
    const id = requestIdleCallback(work, { timeout: 1000 });
    return () => cancelIdleCallback(id);
  }
  const id = setTimeout(work, 50);
  return () => clearTimeout(id);
}

/**
 * Draws the view zoomed into the root's widest child, as a click on it would, into a canvas nobody sees, and finds
 * that node by its path as a zoom does.
 */
function warmUp(tree: FlameTree, width: number, height: number, o: DrawOptions) {
  let widest = -1;
  for (let c = 1; c < tree.end[0]; c = tree.end[c]) if (widest < 0 || tree.cumulative[c] > tree.cumulative[widest]) widest = c;
  if (widest < 0) return;
  const zoom = nodeByPath(tree, pathTo(tree, widest).map((i) => tree.names.get(tree.nameId[i])));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(width * o.ratio);
  canvas.height = Math.round(height * o.ratio);
  const ctx = canvas.getContext("2d", { alpha: false });
  if (!ctx) return;
  draw(ctx, tree, { zoom, width, firstRow: 0, lastRow: Math.ceil(height / ROW_HEIGHT) }, height + ROW_HEIGHT, o);
  canvas.width = 0;
}

/** The zoom path; re-rendered only when the zoom changes, not on hover or focus. */
const Crumbs = memo(function Crumbs({ tree, zoomNode, onZoom }: { tree: FlameTree; zoomNode: number; onZoom: (path: string[]) => void }) {
  const crumbs = zoomNode > 0 ? pathTo(tree, zoomNode) : [];
  const zoomTo = (node: number) => onZoom(pathTo(tree, node).map((i) => tree.names.get(tree.nameId[i])));
  return (
    <nav className="crumbs" aria-label="Zoom path">
      <button type="button" className="crumb" onClick={() => onZoom([])} aria-current={crumbs.length === 0 ? "true" : undefined}>
        root
      </button>
      {crumbs.map((i, k) => (
        <span key={i}>
          <span className="sep" aria-hidden>
            ›
          </span>
          <button type="button" className="crumb" title={tree.names.get(tree.nameId[i])} onClick={() => zoomTo(i)} aria-current={k === crumbs.length - 1 ? "true" : undefined}>
            {tree.names.get(tree.nameId[i])}
          </button>
        </span>
      ))}
      {crumbs.length > 0 && (
        <button type="button" className="link reset" onClick={() => onZoom([])}>
          Reset zoom
        </button>
      )}
    </nav>
  );
});

/** Binaries by self value with their colours (or the diff scale); depends on the profile and theme only. */
const Legend = memo(function Legend({ tree, theme }: { tree: FlameTree; theme: Theme }) {
  const legend = useMemo(() => {
    if (tree.diff) return [];
    const totals = new Float64Array(tree.binaries.length);
    for (let i = 0; i < tree.size; i++) if (tree.binaryId[i] >= 0) totals[tree.binaryId[i]] += tree.self[i];
    const colors = binaryPalette(tree.binaries, theme);
    return tree.binaries
      .map((b, k) => ({ name: b, value: totals[k], color: colors[k] }))
      .sort((a, b) => b.value - a.value)
      .slice(0, 12);
  }, [tree, theme]);
  return (
    <div className="legend" aria-label="Legend">
      {tree.diff ? (
        <>
          <span className="swatch" style={{ background: diffColor(-1, theme) }} /> smaller share
          <span className="swatch" style={{ background: diffColor(0, theme) }} /> unchanged
          <span className="swatch" style={{ background: diffColor(1, theme) }} /> larger share (compared with baseline)
        </>
      ) : (
        legend.map((b) => (
          <span key={b.name} className="legend-item">
            <span className="swatch" style={{ background: b.color }} />
            {b.name}
          </span>
        ))
      )}
    </div>
  );
});

export function formatShareChange(change: number): string {
  const pts = change * 100;
  return `${pts >= 0 ? "+" : ""}${pts.toFixed(2)} points of the whole`;
}
