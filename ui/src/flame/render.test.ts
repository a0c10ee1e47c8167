import { describe, expect, it } from "vitest";
import { binaryPalette, DARK, diffColor, diffIntensity, LIGHT, type Theme } from "./colors";
import { buildTree, matchNodes, type FlameTree } from "./model";
import { draw, forEachVisible, LabelCache, ROW_HEIGHT, truncateLabel, type DrawOptions, type Viewport } from "./render";
import { NameTable } from "./names";
import { syntheticRows } from "./synthetic";

/** A 2D context that records what is drawn: filled rectangles with their colour, texts with theirs, outlines. */
function recorder() {
  const rects: string[] = [];
  const texts: string[] = [];
  const strokes: string[] = [];
  let path: number[][] = [];
  const ctx = {
    fillStyle: "",
    strokeStyle: "",
    font: "",
    textBaseline: "",
    lineWidth: 1,
    setTransform() {},
    fillRect(x: number, y: number, w: number, h: number) {
      rects.push(`${ctx.fillStyle} ${x} ${y} ${w} ${h}`);
    },
    beginPath() {
      path = [];
    },
    rect(x: number, y: number, w: number, h: number) {
      path.push([x, y, w, h]);
    },
    fill() {
      for (const [x, y, w, h] of path) rects.push(`${ctx.fillStyle} ${x} ${y} ${w} ${h}`);
    },
    fillText(text: string, x: number, y: number) {
      texts.push(`${ctx.fillStyle} ${ctx.font} ${text} ${x} ${y}`);
    },
    strokeRect(x: number, y: number, w: number, h: number) {
      strokes.push(`${ctx.strokeStyle} ${ctx.lineWidth} ${x} ${y} ${w} ${h}`);
    },
  };
  return { ctx: ctx as unknown as CanvasRenderingContext2D, rects, texts, strokes };
}

/** The drawing as the renderer first did it, frame by frame with no caches: what draw must still produce. */
function reference(tree: FlameTree, vp: Viewport, height: number, o: DrawOptions) {
  const { ctx, rects, texts, strokes } = recorder();
  const theme = o.theme;
  ctx.fillStyle = theme.background;
  ctx.fillRect(0, 0, vp.width, height);
  const diff = tree.diff;
  const colors = diff
    ? Array.from({ length: 41 }, (_, k) => diffColor((k - 20) / 20, theme))
    : binaryPalette(["", ...tree.binaries], theme);
  const offsetY = o.offsetY ?? 0;
  forEachVisible(tree, vp, (i, x, w) => {
    const dimmed = o.matched !== null && !o.matched[i];
    const y = (tree.depth[i] - vp.firstRow) * ROW_HEIGHT + offsetY;
    const bucket = diff
      ? Math.round(diffIntensity(tree.cumulative[i], diff[i], tree.cumulative[0], tree.cumulative[0] - diff[0]) * 20) + 20
      : tree.binaryId[i] + 1;
    ctx.fillStyle = dimmed ? theme.dimmed : colors[bucket];
    ctx.fillRect(x, y, w > 2 ? w - 1 : w, ROW_HEIGHT - 1);
    const fits = Math.floor((w - 8) / o.charWidth);
    if (w < 22 || fits < 2) return;
    const name = tree.names.get(tree.nameId[i]);
    ctx.fillStyle = dimmed ? theme.text : theme.textOnFrame;
    ctx.font = "12px ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', monospace";
    ctx.fillText(name.length <= fits ? name : `${name.slice(0, fits - 1)}…`, x + 4, y + ROW_HEIGHT / 2);
  });
  for (const [node, color] of [
    [o.focused, theme.highlight],
    [o.hovered, theme.text],
  ] as const) {
    if (node < 0) continue;
    forEachVisible(tree, { ...vp, firstRow: tree.depth[node], lastRow: tree.depth[node] }, (i, x, w) => {
      if (i !== node) return;
      ctx.strokeStyle = color;
      ctx.lineWidth = 2;
      ctx.strokeRect(x + 1, (tree.depth[node] - vp.firstRow) * ROW_HEIGHT + offsetY + 1, Math.max(0, w - 3), ROW_HEIGHT - 3);
    });
  }
  return { rects, texts, strokes };
}

function drawn(tree: FlameTree, vp: Viewport, height: number, o: DrawOptions) {
  const r = recorder();
  const count = draw(r.ctx, tree, vp, height, o);
  return { count, rects: r.rects, texts: r.texts, strokes: r.strokes };
}

const sorted = (xs: string[]) => [...xs].sort();

describe("truncated labels", () => {
  it("keep names that fit and cut others to the width with an ellipsis", () => {
    expect(truncateLabel("main", 4)).toBe("main");
    expect(truncateLabel("main", 3)).toBe("ma…");
    expect(truncateLabel("runtime.mallocgc", 2)).toBe("r…");
  });

  it("come out of the cache exactly as truncateLabel makes them, at every width, twice over", () => {
    const names = ["", "a", "main", "pkg12.Function345_6", "std::vector<Größe>::push_back(Größe const&)", "x".repeat(5000)];
    const cache = new LabelCache(NameTable.of(names));
    for (let pass = 0; pass < 2; pass++) {
      for (let id = 0; id < names.length; id++) {
        for (const fits of [2, 3, 4, 5, 10, 19, 20, 21, 43, 44, 200, 4095, 4096, 4999, 5000, 6000]) {
          expect(cache.get(id, fits)).toBe(truncateLabel(names[id], fits));
        }
      }
    }
  });

  it("give the same string for a name each time, and start over past their limit", () => {
    const names = Array.from({ length: 30_000 }, (_, k) => `function_number_${k}`);
    const cache = new LabelCache(NameTable.of(names));
    expect(cache.get(0, 100)).toBe(names[0]);
    expect(cache.get(0, 100)).toBe(cache.get(0, 200));
    expect(cache.size).toBe(1);
    for (let k = 0; k < names.length; k++) expect(cache.get(k, 5)).toBe(truncateLabel(names[k], 5));
    expect(cache.size).toBeLessThanOrEqual(20_000);
    expect(cache.size).toBeGreaterThan(0);
  });
});

describe("draw", () => {
  const tree = buildTree(syntheticRows(20_000, 5));
  const options = (theme: Theme, patch: Partial<DrawOptions> = {}): DrawOptions => ({
    theme,
    matched: null,
    hovered: -1,
    focused: -1,
    ratio: 1,
    charWidth: 7.2,
    ...patch,
  });
  const widest = (node: number) => {
    let best = -1;
    for (let c = node + 1; c < tree.end[node]; c = tree.end[c]) if (best < 0 || tree.cumulative[c] > tree.cumulative[best]) best = c;
    return best;
  };
  const deep = widest(widest(widest(0)));

  it("draws what frame-by-frame drawing draws, at the root, zoomed, scrolled, searched, hovered and focused", () => {
    const search = matchNodes(tree, { text: "Function1", exact: false }).matched;
    const cases: [Viewport, DrawOptions][] = [
      [{ zoom: 0, width: 1400, firstRow: 0, lastRow: 32 }, options(LIGHT)],
      [{ zoom: deep, width: 1400, firstRow: 0, lastRow: 32 }, options(LIGHT, { hovered: widest(deep), focused: deep })],
      [{ zoom: deep, width: 900, firstRow: 2, lastRow: 12 }, options(DARK, { offsetY: -7 })],
      [{ zoom: 0, width: 1400, firstRow: 0, lastRow: 32 }, options(LIGHT, { matched: search })],
      [{ zoom: deep, width: 1400, firstRow: 0, lastRow: 32 }, options(DARK, { matched: search, hovered: deep })],
    ];
    // Twice over: the second time from the caches the first filled.
    for (let pass = 0; pass < 2; pass++) {
      for (const [vp, o] of cases) {
        const got = drawn(tree, vp, 660, o);
        const want = reference(tree, vp, 660, o);
        expect(got.count).toBeGreaterThan(100);
        expect(got.rects.length).toBe(got.count + 1);
        expect(got.rects[0]).toBe(want.rects[0]);
        expect(sorted(got.rects)).toEqual(sorted(want.rects));
        expect(got.texts.length).toBeGreaterThan(10);
        expect(sorted(got.texts)).toEqual(sorted(want.texts));
        expect(got.strokes).toEqual(want.strokes);
      }
    }
  });

  it("draws a diff tree in its change colours", () => {
    const rows = syntheticRows(3_000, 9);
    const diffTree = buildTree({ ...rows, diff: Array.from(rows.cumulative, (v, k) => (k % 3 === 0 ? v / 2 : k % 3 === 1 ? -v / 4 : 0)) });
    const vp = { zoom: 0, width: 1400, firstRow: 0, lastRow: 40 };
    const got = drawn(diffTree, vp, 660, options(LIGHT));
    const want = reference(diffTree, vp, 660, options(LIGHT));
    expect(sorted(got.rects)).toEqual(sorted(want.rects));
    expect(sorted(got.texts)).toEqual(sorted(want.texts));
  });

  it("grows its buffers for a draw of more frames than they hold", () => {
    const big = buildTree(syntheticRows(100_000, 7));
    const vp = { zoom: 0, width: 200_000, firstRow: 0, lastRow: 100 };
    const got = drawn(big, vp, 2000, options(LIGHT));
    expect(got.count).toBeGreaterThan(10_000);
    expect(sorted(got.rects)).toEqual(sorted(reference(big, vp, 2000, options(LIGHT)).rects));
  });
});
