// Time range expressions as they appear in the URL: "now", "now-15m", or absolute milliseconds since the epoch.

export const PRESETS = [
  { label: "5m", from: "now-5m" },
  { label: "15m", from: "now-15m" },
  { label: "1h", from: "now-1h" },
  { label: "6h", from: "now-6h" },
  { label: "24h", from: "now-24h" },
  { label: "7d", from: "now-7d" },
] as const;

const unitMs: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Resolves a time expression to epoch milliseconds; null when it is not one. */
export function resolveTime(expr: string, now: number): number | null {
  const e = expr.trim();
  if (e === "now") return now;
  const rel = /^now-(\d+)([smhdw])$/.exec(e);
  if (rel) return now - Number(rel[1]) * unitMs[rel[2]];
  if (/^\d+$/.test(e)) return Number(e);
  const t = Date.parse(e);
  return Number.isNaN(t) ? null : t;
}

export interface ResolvedRange {
  from: number;
  to: number;
}

export function resolveRange(from: string, to: string, now: number): ResolvedRange | null {
  const f = resolveTime(from, now);
  const t = resolveTime(to, now);
  if (f === null || t === null || f >= t) return null;
  return { from: f, to: t };
}

export function isRelative(expr: string): boolean {
  return expr.startsWith("now");
}

/** A short label for the range picker button. */
export function describeRange(from: string, to: string): string {
  const preset = PRESETS.find((p) => p.from === from && to === "now");
  if (preset) return `Last ${preset.label}`;
  const r = resolveRange(from, to, Date.now());
  if (!r) return "Invalid range";
  return `${formatDateTime(r.from)} – ${formatDateTime(r.to)}`;
}

export function formatDateTime(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Value for an <input type="datetime-local"> in local time. */
export function toLocalInput(ms: number): string {
  return formatDateTime(ms).replace(" ", "T");
}
