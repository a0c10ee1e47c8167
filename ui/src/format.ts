// Formatting of profile values by their unit.

const SI = ["", "k", "M", "G", "T", "P"];

function trim(n: number): string {
  const a = Math.abs(n);
  return a >= 100 ? n.toFixed(0) : a >= 10 ? n.toFixed(1) : n.toFixed(2);
}

export function formatDuration(ns: number): string {
  const a = Math.abs(ns);
  if (a >= 3600e9) return `${trim(ns / 3600e9)} h`;
  if (a >= 60e9) return `${trim(ns / 60e9)} min`;
  if (a >= 1e9) return `${trim(ns / 1e9)} s`;
  if (a >= 1e6) return `${trim(ns / 1e6)} ms`;
  if (a >= 1e3) return `${trim(ns / 1e3)} µs`;
  return `${Math.round(ns)} ns`;
}

export function formatBytes(b: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = b;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${Math.round(v)} B` : `${trim(v)} ${units[u]}`;
}

export function formatCount(n: number): string {
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1000 && u < SI.length - 1) {
    v /= 1000;
    u++;
  }
  return u === 0 ? String(Math.round(v)) : `${trim(v)}${SI[u]}`;
}

export function formatValue(value: number, unit: string): string {
  if (unit === "nanoseconds") return formatDuration(value);
  if (unit === "bytes") return formatBytes(value);
  return formatCount(value);
}

export function formatPercent(part: number, whole: number): string {
  if (whole === 0) return "0%";
  const p = (part / whole) * 100;
  const a = Math.abs(p);
  if (a > 0 && a < 0.01) return p > 0 ? "<0.01%" : ">-0.01%";
  return `${a >= 10 ? p.toFixed(1) : p.toFixed(2)}%`;
}
