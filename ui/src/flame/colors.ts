// Frame colours: one hue per binary (stable across profiles, by a hash of its name), and for a diff a
// red/green scale by the change in a node's share of the whole.

export interface Theme {
  dark: boolean;
  background: string;
  text: string;
  textOnFrame: string;
  dimmed: string;
  border: string;
  grid: string;
  highlight: string;
}

export const LIGHT: Theme = {
  dark: false,
  background: "#ffffff",
  text: "#1f2328",
  textOnFrame: "#111111",
  dimmed: "#d8dadd",
  border: "#d0d7de",
  grid: "#eaeef2",
  highlight: "#7048e8",
};

export const DARK: Theme = {
  dark: true,
  background: "#15171a",
  text: "#e6e8eb",
  textOnFrame: "#0d0d0d",
  dimmed: "#3a3e44",
  border: "#30363d",
  grid: "#24282e",
  highlight: "#b197fc",
};

// Warm and cool hues chosen to stay readable with dark text in both themes.
const HUES = [24, 38, 200, 150, 280, 340, 90, 175, 55, 230, 310, 120];

function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

function hueColor(hue: number, theme: Theme): string {
  return theme.dark ? `hsl(${hue} 55% 58%)` : `hsl(${hue} 75% 70%)`;
}

function unknownColor(theme: Theme): string {
  return theme.dark ? "hsl(220 8% 58%)" : "hsl(220 8% 72%)";
}

/** The base colour of a binary on its own (by a hash of its name); frames of an unknown binary are grey. */
export function binaryColor(binary: string, theme: Theme): string {
  if (!binary) return unknownColor(theme);
  return hueColor(HUES[hash(binary) % HUES.length], theme);
}

/**
 * Colours for the binaries of one profile, in the given order: each keeps its hashed hue unless a binary earlier
 * in name order took it, then it moves to the next free hue, so up to HUES.length binaries never share a colour
 * and a binary keeps its colour across profiles unless it collides. Beyond that, hues repeat.
 */
export function binaryPalette(binaries: readonly string[], theme: Theme): string[] {
  const taken = new Set<number>();
  const hueOf = new Map<string, number>();
  for (const b of [...binaries].filter(Boolean).sort()) {
    if (hueOf.has(b)) continue;
    let k = hash(b) % HUES.length;
    if (taken.size < HUES.length) while (taken.has(k)) k = (k + 1) % HUES.length;
    taken.add(k);
    hueOf.set(b, HUES[k]);
  }
  return binaries.map((b) => (b ? hueColor(hueOf.get(b)!, theme) : unknownColor(theme)));
}

/**
 * The change in share of the whole between baseline and compared profile for a diff node: `cumulative` is
 * the compared profile's value and `diff` compared − baseline (absolute values, not rescaled), so the
 * baseline value is cumulative − diff. Result in [-1, 1] of share points (0.05 = 5 points more of the whole).
 */
export function shareChange(cumulative: number, diff: number, totalCompared: number, totalBaseline: number): number {
  const after = totalCompared > 0 ? cumulative / totalCompared : 0;
  const before = totalBaseline > 0 ? (cumulative - diff) / totalBaseline : 0;
  return after - before;
}

/**
 * How strongly to colour a diff node, in [-1, 1]: the change in share relative to the node's larger share,
 * so a function that doubled is as red as one that appeared, whatever its size. Changes within 1% of the
 * node's share stay neutral.
 */
export function diffIntensity(cumulative: number, diff: number, totalCompared: number, totalBaseline: number): number {
  const after = totalCompared > 0 ? cumulative / totalCompared : 0;
  const before = totalBaseline > 0 ? (cumulative - diff) / totalBaseline : 0;
  const larger = Math.max(after, before);
  if (larger <= 0) return 0;
  const r = (after - before) / larger;
  return Math.abs(r) < 0.01 ? 0 : Math.max(-1, Math.min(1, r));
}

/** Red for more, green-blue for less, grey for unchanged; stronger with |intensity|. */
export function diffColor(intensity: number, theme: Theme): string {
  const s = Math.round(Math.abs(intensity) * 100) / 100;
  if (s === 0) return theme.dark ? "hsl(220 6% 50%)" : "hsl(220 6% 82%)";
  const light = theme.dark ? 62 - 22 * s : 90 - 32 * s;
  return intensity > 0 ? `hsl(0 ${Math.round(40 + 50 * s)}% ${light.toFixed(1)}%)` : `hsl(165 ${Math.round(35 + 45 * s)}% ${light.toFixed(1)}%)`;
}

/** Totals of both sides of a diff tree from its root: compared = root cumulative, baseline = cumulative − diff. */
export function diffTotals(rootCumulative: number, rootDiff: number): { compared: number; baseline: number } {
  return { compared: rootCumulative, baseline: rootCumulative - rootDiff };
}
