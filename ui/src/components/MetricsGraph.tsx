import { useLayoutEffect, useMemo, useRef, useState } from "react";
import type { MetricsSeries } from "../api";
import type { Theme } from "../flame/colors";
import { formatDateTime } from "../time";
import { formatValue } from "../format";
import { useWidth } from "../hooks";
import { timestampMs } from "@bufbuild/protobuf/wkt";

const PALETTE = ["#e8590c", "#1c7ed6", "#2f9e44", "#ae3ec9", "#f59f00", "#0c8599", "#e03131", "#5c940d", "#6741d9", "#d6336c"];
const PAD = { left: 64, right: 12, top: 10, bottom: 24 };
const HEIGHT = 200;

export interface GraphPoint {
  series: number;
  index: number;
}

interface Props {
  series: MetricsSeries[];
  from: number;
  to: number;
  unit: string;
  theme: Theme;
  selection: { from: number; to: number } | null;
  at: number | null;
  onRange: (from: number, to: number) => void;
  onPoint: (series: MetricsSeries, at: number, count: number) => void;
  label: string;
}

export function seriesName(s: MetricsSeries): string {
  const labels = (s.labelset?.labels ?? []).filter((l) => l.name !== "__name__");
  return labels.length ? `{${labels.map((l) => `${l.name}="${l.value}"`).join(", ")}}` : "{}";
}

function niceStep(range: number, ticks: number): number {
  const raw = range / ticks;
  const mag = Math.pow(10, Math.floor(Math.log10(raw || 1)));
  const f = raw / mag;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

const TIME_STEPS = [1, 5, 10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400].map((s) => s * 1000);

/** One line per series over time; hover for details, drag to choose a range, click a point for its profile. */
export function MetricsGraph({ series, from, to, unit, theme, selection, at, onRange, onPoint, label }: Props) {
  const [boxRef, width] = useWidth<HTMLDivElement>();
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const [hover, setHover] = useState<GraphPoint | null>(null);
  const [drag, setDrag] = useState<{ x0: number; x1: number } | null>(null);

  const data = useMemo(
    () => series.map((s) => s.samples.map((p) => ({ t: p.timestamp ? timestampMs(p.timestamp) : 0, v: Number(p.value), count: p.count }))),
    [series],
  );
  const maxV = useMemo(() => {
    let m = 0;
    for (const s of data) for (const p of s) if (p.v > m) m = p.v;
    return m || 1;
  }, [data]);
  const vStep = niceStep(maxV, 4);
  const vMax = Math.ceil(maxV / vStep) * vStep;
  const plotW = Math.max(1, width - PAD.left - PAD.right);
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const xOf = (t: number) => PAD.left + ((t - from) / (to - from)) * plotW;
  const yOf = (v: number) => PAD.top + plotH - (v / vMax) * plotH;
  const tOf = (x: number) => from + ((x - PAD.left) / plotW) * (to - from);

  useLayoutEffect(() => {
    const canvas = canvasRef.current;
    if (!canvas || width === 0) return;
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(HEIGHT * ratio);
    const ctx = canvas.getContext("2d")!;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, HEIGHT);
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = theme.text;
    ctx.strokeStyle = theme.grid;
    ctx.lineWidth = 1;
    // value grid
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (let v = 0; v <= vMax + vStep / 2; v += vStep) {
      const y = Math.round(yOf(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(PAD.left, y);
      ctx.lineTo(width - PAD.right, y);
      ctx.stroke();
      ctx.fillText(formatValue(v, unit), PAD.left - 6, y);
    }
    // time axis
    const tStep = TIME_STEPS.find((s) => (to - from) / s <= Math.max(2, plotW / 110)) ?? 7 * 86400_000;
    const offset = new Date().getTimezoneOffset() * 60_000;
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (let t = Math.ceil((from - offset) / tStep) * tStep + offset; t <= to; t += tStep) {
      const x = Math.round(xOf(t)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(x, PAD.top);
      ctx.lineTo(x, PAD.top + plotH);
      ctx.stroke();
      const text = formatDateTime(t);
      ctx.fillText(tStep >= 86400_000 ? text.slice(5, 10) : tStep < 60_000 ? text.slice(11) : text.slice(11, 16), x, PAD.top + plotH + 6);
    }
    // chosen range or point
    if (selection) {
      ctx.fillStyle = theme.dark ? "rgba(177,151,252,0.18)" : "rgba(112,72,232,0.12)";
      const x0 = Math.max(PAD.left, xOf(selection.from));
      const x1 = Math.min(width - PAD.right, xOf(selection.to));
      ctx.fillRect(x0, PAD.top, Math.max(2, x1 - x0), plotH);
    }
    if (at !== null) {
      ctx.strokeStyle = theme.highlight;
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(xOf(at), PAD.top);
      ctx.lineTo(xOf(at), PAD.top + plotH);
      ctx.stroke();
    }
    // lines
    ctx.save();
    ctx.beginPath();
    ctx.rect(PAD.left, PAD.top - 4, plotW, plotH + 8);
    ctx.clip();
    data.forEach((points, k) => {
      ctx.strokeStyle = ctx.fillStyle = PALETTE[k % PALETTE.length];
      ctx.lineWidth = hover?.series === k ? 2.5 : 1.5;
      ctx.beginPath();
      points.forEach((p, j) => (j === 0 ? ctx.moveTo(xOf(p.t), yOf(p.v)) : ctx.lineTo(xOf(p.t), yOf(p.v))));
      ctx.stroke();
      if (points.length <= plotW / 6) for (const p of points) ctx.fillRect(xOf(p.t) - 1.5, yOf(p.v) - 1.5, 3, 3);
    });
    ctx.restore();
    if (hover) {
      const p = data[hover.series]?.[hover.index];
      if (p) {
        ctx.fillStyle = PALETTE[hover.series % PALETTE.length];
        ctx.beginPath();
        ctx.arc(xOf(p.t), yOf(p.v), 4.5, 0, Math.PI * 2);
        ctx.fill();
      }
    }
    if (drag) {
      ctx.fillStyle = theme.dark ? "rgba(255,255,255,0.12)" : "rgba(0,0,0,0.08)";
      ctx.fillRect(Math.min(drag.x0, drag.x1), PAD.top, Math.abs(drag.x1 - drag.x0), plotH);
    }
  });

  const nearest = (x: number, y: number, maxDist = 24): GraphPoint | null => {
    let best: GraphPoint | null = null;
    let bestD = maxDist * maxDist;
    data.forEach((points, k) => {
      points.forEach((p, j) => {
        const dx = xOf(p.t) - x;
        const dy = yOf(p.v) - y;
        const d = dx * dx + dy * dy * 0.25;
        if (d < bestD) {
          bestD = d;
          best = { series: k, index: j };
        }
      });
    });
    return best;
  };

  const local = (e: React.MouseEvent) => {
    const r = canvasRef.current!.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  };

  const choosePoint = (p: GraphPoint) => {
    const s = series[p.series];
    const pt = data[p.series][p.index];
    onPoint(s, pt.t, pt.count);
  };

  const hovered = hover ? data[hover.series]?.[hover.index] : undefined;

  return (
    <div className="metrics" ref={boxRef}>
      <canvas
        ref={canvasRef}
        data-testid="metrics-graph"
        style={{ width: "100%", height: HEIGHT, display: "block", cursor: "crosshair" }}
        tabIndex={0}
        role="img"
        aria-label={`${label}: ${series.length} series. Drag to choose a time range; click a point, or use the arrow keys and Enter, to see that profile.`}
        onMouseDown={(e) => {
          const { x } = local(e);
          setDrag({ x0: x, x1: x });
        }}
        onMouseMove={(e) => {
          const { x, y } = local(e);
          if (drag) setDrag({ ...drag, x1: x });
          setHover(nearest(x, y));
        }}
        onMouseUp={(e) => {
          const { x, y } = local(e);
          const d = drag;
          setDrag(null);
          if (d && Math.abs(x - d.x0) > 4) {
            const a = Math.max(from, tOf(Math.min(d.x0, x)));
            const b = Math.min(to, tOf(Math.max(d.x0, x)));
            if (b > a) onRange(Math.round(a), Math.round(b));
            return;
          }
          const p = nearest(x, y);
          if (p) choosePoint(p);
        }}
        onMouseLeave={() => {
          setHover(null);
          setDrag(null);
        }}
        onKeyDown={(e) => {
          if (data.length === 0) return;
          const cur = hover ?? { series: 0, index: data[0].length - 1 };
          if (e.key === "ArrowLeft" || e.key === "ArrowRight") {
            const index = Math.max(0, Math.min(data[cur.series].length - 1, cur.index + (e.key === "ArrowRight" ? 1 : -1)));
            setHover({ series: cur.series, index });
          } else if (e.key === "ArrowUp" || e.key === "ArrowDown") {
            const s = (cur.series + (e.key === "ArrowDown" ? 1 : data.length - 1)) % data.length;
            setHover({ series: s, index: Math.min(cur.index, data[s].length - 1) });
          } else if (e.key === "Enter" && hover) {
            choosePoint(hover);
          } else return;
          e.preventDefault();
        }}
      />
      {hover && hovered && (
        <div className="tooltip graph-tip" role="status" style={{ left: Math.min(xOf(hovered.t) + 12, Math.max(0, width - 300)), top: 8 }}>
          <div className="tt-name">{seriesName(series[hover.series])}</div>
          <div>
            {formatValue(hovered.v, unit)} at {formatDateTime(hovered.t)}
            {hovered.count > 1 ? ` (${hovered.count} profiles)` : ""}
          </div>
        </div>
      )}
      <ul className="series-legend">
        {series.slice(0, 20).map((s, k) => (
          <li key={k}>
            <span className="swatch" style={{ background: PALETTE[k % PALETTE.length] }} />
            {seriesName(s)}
          </li>
        ))}
        {series.length > 20 && <li>… and {series.length - 20} more series</li>}
      </ul>
    </div>
  );
}
