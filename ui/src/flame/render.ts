// Draws the icicle (root on top) on a 2D canvas. Only nodes at least MIN_WIDTH pixels wide inside the
// zoomed range and the visible rows are visited: a node too narrow or outside the range is skipped with its
// whole subtree (pre-order ranges), so the cost follows what is on screen, not the size of the profile.
// Rectangles are batched into one path per colour; text is drawn only where it fits. A draw reuses its scratch
// buffers, colours and truncated labels, so that a zoom or hover allocates next to nothing.
import { binaryPalette, diffColor, diffIntensity, type Theme } from "./colors";
import type { FlameTree } from "./model";
import type { NameTable } from "./names";

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

/** `name` cut to at most `fits` characters, ending in an ellipsis when cut (`fits` ≥ 2). */
export function truncateLabel(name: string, fits: number): string {
  return name.length <= fits ? name : `${name.slice(0, fits - 1)}…`;
}

/** Entries kept per tree before the label cache starts over: far more than one screen's labels. */
const LABEL_CACHE_LIMIT = 20_000;
/** Label widths in characters above this are not cached (the key packs name id and width). */
const LABEL_MAX_FITS = 4096;

/**
 * Labels of one tree by name id and width in characters, so that a zoom or hover re-draw finds the strings of the
 * previous draws instead of slicing them again: names cut to a width, and whole names under the key of width 0.
 */
export class LabelCache {
  private readonly byKey = new Map<number, string>();

  constructor(private readonly names: NameTable) {}

  get size(): number {
    return this.byKey.size;
  }

  /** The label of name `nameId` in `fits` characters: the same string truncateLabel gives. */
  get(nameId: number, fits: number): string {
    const whole = this.names.length(nameId) <= fits;
    if (!whole && fits >= LABEL_MAX_FITS) return truncateLabel(this.names.get(nameId), fits);
    const key = nameId * LABEL_MAX_FITS + (whole ? 0 : fits);
    let text = this.byKey.get(key);
    if (text === undefined) {
      if (this.byKey.size >= LABEL_CACHE_LIMIT) this.byKey.clear();
      const { text: all, offsets } = this.names;
      text = whole ? this.names.get(nameId) : `${all.slice(offsets[nameId], offsets[nameId] + fits - 1)}…`;
      this.byKey.set(key, text);
    }
    return text;
  }
}

/** What one tree's draws share: its colours per theme and its label cache. */
interface TreeCache {
  theme: Theme | null;
  colors: string[];
  labels: LabelCache;
}

const treeCaches = new WeakMap<FlameTree, TreeCache>();

function cacheOf(tree: FlameTree, theme: Theme): TreeCache {
  let c = treeCaches.get(tree);
  if (!c) treeCaches.set(tree, (c = { theme: null, colors: [], labels: new LabelCache(tree.names) }));
  if (c.theme !== theme) {
    // Colour buckets: binaries (+1 for unknown) or diff steps, then one for dimmed frames.
    c.colors = tree.diff
      ? Array.from({ length: 2 * DIFF_STEPS + 1 }, (_, k) => diffColor((k - DIFF_STEPS) / DIFF_STEPS, theme))
      : binaryPalette(["", ...tree.binaries], theme);
    c.colors.push(theme.dimmed);
    c.theme = theme;
  }
  return c;
}

// The frames of the current draw, reused by every draw (grown when a draw visits more): node, geometry and colour
// bucket in visiting order, then the same frames' positions ordered by bucket, and the frames that get a label.
let visNode = new Int32Array(4096);
let visX = new Float64Array(4096);
let visY = new Float64Array(4096);
let visW = new Float64Array(4096);
let visBucket = new Int32Array(4096);
let byBucket = new Int32Array(4096);
let labelled = new Int32Array(4096);
let bucketStart = new Int32Array(64);

function grow(n: number) {
  let size = visNode.length;
  while (size < n) size *= 2;
  const bigger = <T extends Int32Array | Float64Array>(a: T, make: (n: number) => T): T => {
    const b = make(size);
    b.set(a);
    return b;
  };
  visNode = bigger(visNode, (k) => new Int32Array(k));
  visX = bigger(visX, (k) => new Float64Array(k));
  visY = bigger(visY, (k) => new Float64Array(k));
  visW = bigger(visW, (k) => new Float64Array(k));
  visBucket = bigger(visBucket, (k) => new Int32Array(k));
  byBucket = new Int32Array(size);
  labelled = new Int32Array(size);
}

/** Draws the viewport; returns the number of nodes drawn. Allocates nothing per frame drawn. */
export function draw(ctx: CanvasRenderingContext2D, tree: FlameTree, vp: Viewport, height: number, o: DrawOptions): number {
  const { theme } = o;
  ctx.setTransform(o.ratio, 0, 0, o.ratio, 0, 0);
  ctx.fillStyle = theme.background;
  ctx.fillRect(0, 0, vp.width, height);
  if (tree.size === 0) return 0;

  const cache = cacheOf(tree, theme);
  const colors = cache.colors;
  const dimmedBucket = colors.length - 1;
  const diff = tree.diff;
  const totalCompared = tree.cumulative[0];
  const totalBaseline = diff ? tree.cumulative[0] - diff[0] : 0;
  const matched = o.matched;
  const offsetY = o.offsetY ?? 0;
  const { binaryId, cumulative, depth } = tree;

  let count = 0;
  forEachVisible(tree, vp, (i, x, w) => {
    if (count === visNode.length) grow(count + 1);
    let bucket: number;
    if (matched && !matched[i]) bucket = dimmedBucket;
    else if (diff) bucket = Math.round(diffIntensity(cumulative[i], diff[i], totalCompared, totalBaseline) * DIFF_STEPS) + DIFF_STEPS;
    else bucket = binaryId[i] + 1;
    visNode[count] = i;
    visX[count] = x;
    visY[count] = (depth[i] - vp.firstRow) * ROW_HEIGHT + offsetY;
    visW[count] = w;
    visBucket[count] = bucket;
    count++;
  });

  // One path per colour: frames ordered by bucket (a counting sort), keeping their visiting order within a bucket.
  if (bucketStart.length < colors.length + 1) bucketStart = new Int32Array(2 * (colors.length + 1));
  bucketStart.fill(0, 0, colors.length + 1);
  for (let k = 0; k < count; k++) bucketStart[visBucket[k] + 1]++;
  for (let b = 0; b < colors.length; b++) bucketStart[b + 1] += bucketStart[b];
  for (let k = 0; k < count; k++) byBucket[bucketStart[visBucket[k]]++] = k;
  // bucketStart[b] is now the end of bucket b, and the start of bucket b + 1.
  for (let b = 0, from = 0; b < colors.length; b++) {
    const to = bucketStart[b];
    if (to === from) continue;
    ctx.fillStyle = colors[b];
    ctx.beginPath();
    for (let j = from; j < to; j++) {
      const k = byBucket[j];
      const w = visW[k];
      ctx.rect(visX[k], visY[k], w > 2 ? w - 1 : w, ROW_HEIGHT - 1);
    }
    ctx.fill();
    from = to;
  }

  // Labels where they fit; those of dimmed frames in the plain text colour, drawn after the others so that the
  // fill style changes once.
  let labels = 0;
  let dimmedLabels = 0;
  for (let k = 0; k < count; k++) {
    if (visW[k] < TEXT_MIN_WIDTH) continue;
    if (visBucket[k] === dimmedBucket && matched) labelled[count - 1 - dimmedLabels++] = k;
    else labelled[labels++] = k;
  }
  ctx.font = FONT;
  ctx.textBaseline = "middle";
  ctx.fillStyle = theme.textOnFrame;
  const cw = o.charWidth;
  const { nameId } = tree;
  for (let j = 0; j < labels + dimmedLabels; j++) {
    const k = j < labels ? labelled[j] : labelled[count - 1 - (j - labels)];
    if (j === labels) ctx.fillStyle = theme.text;
    const fits = Math.floor((visW[k] - 8) / cw);
    if (fits < 2) continue;
    ctx.fillText(cache.labels.get(nameId[visNode[k]], fits), visX[k] + 4, visY[k] + ROW_HEIGHT / 2);
  }

  for (let pass = 0; pass < 2; pass++) {
    const node = pass === 0 ? o.focused : o.hovered;
    if (node < 0 || node >= tree.size) continue;
    const color = pass === 0 ? theme.highlight : theme.text;
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
