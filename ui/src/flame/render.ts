// Draws the icicle (root on top) on a 2D canvas. Only nodes at least MIN_WIDTH pixels wide inside the
// zoomed range and the visible rows are visited: a node too narrow or outside the range is skipped with its
// whole subtree (pre-order ranges), so the cost follows what is on screen, not the size of the profile.
// Rectangles are batched into one path per colour; text is drawn only where it fits.
import { binaryPalette, diffColor, diffIntensity, type Theme } from "./colors";
import type { FlameTree } from "./model";

export const ROW_HEIGHT = 20;
export const MIN_WIDTH = 0.5;
export const FONT = "12px ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', monospace";
const TEXT_MIN_WIDTH = 22;
const DIFF_STEPS = 20;

export interface Viewport {
  /** The zoomed node: it spans the full width; its ancestors are drawn full width above it. */
  zoom: number;
  width: number;
  /** Rows (depths) to draw, inclusive. */
  firstRow: number;
  lastRow: number;
}

/** Calls visit(i, x, w) for each node to draw, in pre-order; returns how many were visited. */
export function forEachVisible(tree: FlameTree, vp: Viewport, visit: (i: number, x: number, w: number) => void): number {
  if (tree.size === 0) return 0;
  const z = vp.zoom;
  const zStart = tree.start[z];
  const scale = vp.width / (tree.cumulative[z] || 1);
  const { start, cumulative, depth, end } = tree;
  let count = 0;
  let i = 0;
  const n = tree.size;
  while (i < n) {
    const d = depth[i];
    if (d > vp.lastRow) {
      i = end[i];
      continue;
    }
    let x = (start[i] - zStart) * scale;
    let w = cumulative[i] * scale;
    if (w < MIN_WIDTH || x >= vp.width || x + w <= 0) {
      i = end[i];
      continue;
    }
    if (x < 0) {
      w += x;
      x = 0;
    }
    if (x + w > vp.width) w = vp.width - x;
    if (d >= vp.firstRow) {
      visit(i, x, w);
      count++;
    }
    i++;
  }
  return count;
}

/** The node under pixel (x, y) of the canvas, or -1. */
export function hitTest(tree: FlameTree, vp: Viewport, x: number, y: number): number {
  const row = Math.floor(y / ROW_HEIGHT);
  if (tree.size === 0 || row < 0) return -1;
  const z = vp.zoom;
  const zStart = tree.start[z];
  const scale = vp.width / (tree.cumulative[z] || 1);
  let i = 0;
  while (i < tree.size) {
    const nx = (tree.start[i] - zStart) * scale;
    const nw = tree.cumulative[i] * scale;
    if (nw < MIN_WIDTH || x < nx || x >= nx + nw || tree.depth[i] > row) {
      i = tree.end[i];
      continue;
    }
    if (tree.depth[i] === row) return i;
    i++;
  }
  return -1;
}

export interface DrawOptions {
  theme: Theme;
  /** Nodes matching the search or the selected table row; others are dimmed when set. */
  matched: Uint8Array | null;
  hovered: number;
  focused: number;
  /** Device pixel ratio the canvas is scaled by. */
  ratio: number;
  /** Average glyph width of FONT, for truncating names without measuring each. */
  charWidth: number;
  /** Vertical shift of the first drawn row in CSS pixels (≤ 0 when scrolled into the middle of a row). */
  offsetY?: number;
}

/** Draws the viewport; returns the number of nodes drawn. */
export function draw(ctx: CanvasRenderingContext2D, tree: FlameTree, vp: Viewport, height: number, o: DrawOptions): number {
  const { theme } = o;
  ctx.setTransform(o.ratio, 0, 0, o.ratio, 0, 0);
  ctx.fillStyle = theme.background;
  ctx.fillRect(0, 0, vp.width, height);
  if (tree.size === 0) return 0;

  const diff = tree.diff;
  const totalCompared = tree.cumulative[0];
  const totalBaseline = diff ? tree.cumulative[0] - diff[0] : 0;
  // Colour buckets: binaries (+1 for unknown) or diff steps; one more bucket for dimmed frames.
  const colors: string[] = diff
    ? Array.from({ length: 2 * DIFF_STEPS + 1 }, (_, k) => diffColor((k - DIFF_STEPS) / DIFF_STEPS, theme))
    : binaryPalette(["", ...tree.binaries], theme);
  const dimmedBucket = colors.length;
  colors.push(theme.dimmed);
  const rects: number[][] = colors.map(() => []);
  const labels: number[] = [];
  const offsetY = o.offsetY ?? 0;

  const count = forEachVisible(tree, vp, (i, x, w) => {
    let bucket: number;
    if (o.matched && !o.matched[i]) bucket = dimmedBucket;
    else if (diff) bucket = Math.round(diffIntensity(tree.cumulative[i], diff[i], totalCompared, totalBaseline) * DIFF_STEPS) + DIFF_STEPS;
    else bucket = tree.binaryId[i] + 1;
    const y = (tree.depth[i] - vp.firstRow) * ROW_HEIGHT + offsetY;
    rects[bucket].push(x, y, w > 2 ? w - 1 : w);
    if (w >= TEXT_MIN_WIDTH) labels.push(i, x, y, w);
  });

  for (let b = 0; b < rects.length; b++) {
    const r = rects[b];
    if (r.length === 0) continue;
    ctx.fillStyle = colors[b];
    ctx.beginPath();
    for (let k = 0; k < r.length; k += 3) ctx.rect(r[k], r[k + 1], r[k + 2], ROW_HEIGHT - 1);
    ctx.fill();
  }

  ctx.font = FONT;
  ctx.textBaseline = "middle";
  ctx.fillStyle = theme.textOnFrame;
  const cw = o.charWidth;
  for (let k = 0; k < labels.length; k += 4) {
    const i = labels[k];
    const w = labels[k + 3];
    const fits = Math.floor((w - 8) / cw);
    if (fits < 2) continue;
    const name = tree.names[tree.nameId[i]];
    const text = name.length <= fits ? name : `${name.slice(0, fits - 1)}…`;
    if (o.matched && !o.matched[i]) ctx.fillStyle = theme.text;
    ctx.fillText(text, labels[k + 1] + 4, labels[k + 2] + ROW_HEIGHT / 2);
    if (o.matched && !o.matched[i]) ctx.fillStyle = theme.textOnFrame;
  }

  for (const [node, color] of [
    [o.focused, theme.highlight],
    [o.hovered, theme.text],
  ] as const) {
    if (node < 0 || node >= tree.size) continue;
    forEachVisibleSingle(tree, vp, node, (x, w) => {
      ctx.strokeStyle = color;
      ctx.lineWidth = 2;
      ctx.strokeRect(x + 1, (tree.depth[node] - vp.firstRow) * ROW_HEIGHT + offsetY + 1, Math.max(0, w - 3), ROW_HEIGHT - 3);
    });
  }
  return count;
}

function forEachVisibleSingle(tree: FlameTree, vp: Viewport, node: number, visit: (x: number, w: number) => void) {
  const scale = vp.width / (tree.cumulative[vp.zoom] || 1);
  let x = (tree.start[node] - tree.start[vp.zoom]) * scale;
  let w = tree.cumulative[node] * scale;
  if (x + w <= 0 || x >= vp.width || w < MIN_WIDTH) return;
  if (x < 0) {
    w += x;
    x = 0;
  }
  visit(x, Math.min(w, vp.width - x));
}
