import { memo, useMemo, useState } from "react";
import type { FunctionRow } from "../flame/arrow";
import { diffColor, diffIntensity, shareChange, type Theme } from "../flame/colors";
import { formatPercent, formatValue } from "../format";
import { formatShareChange } from "./FlameGraph";

type SortKey = "flat" | "cumulative" | "name" | "change";

interface Props {
  rows: FunctionRow[];
  unit: string;
  /** Totals of the profile (compared side in a diff) and of the baseline in a diff. */
  total: number;
  baselineTotal: number | null;
  filter: string;
  selected: string;
  onSelect: (name: string) => void;
  theme: Theme;
}

const LIMIT = 500;

/**
 * Functions with flat and cumulative values; sortable, filtered by the search box; a row highlights its frames.
 * Memoized: a zoom of the flame graph beside it does not re-render its rows.
 */
export const FunctionTable = memo(function FunctionTable({ rows, unit, total, baselineTotal, filter, selected, onSelect, theme }: Props) {
  const diff = baselineTotal !== null;
  const [sort, setSort] = useState<{ key: SortKey; desc: boolean }>({ key: diff ? "change" : "flat", desc: true });
  const change = (r: FunctionRow) => (diff ? shareChange(r.cumulative, r.cumulativeDiff, total, baselineTotal!) : 0);
  const shown = useMemo(() => {
    const f = filter.toLowerCase();
    const list = f ? rows.filter((r) => r.name.toLowerCase().includes(f) || r.binary.toLowerCase().includes(f)) : rows.slice();
    const key = sort.key;
    const val = (r: FunctionRow) => (key === "flat" ? r.flat : key === "cumulative" ? r.cumulative : key === "change" ? Math.abs(change(r)) : 0);
    list.sort((a, b) => {
      const c = key === "name" ? a.name.localeCompare(b.name) : val(a) - val(b);
      // Equal values (a call chain has one cumulative) keep a stable, readable order: by name.
      return c !== 0 ? (sort.desc ? -c : c) : a.name.localeCompare(b.name);
    });
    return list;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [rows, filter, sort, total, baselineTotal]);

  const header = (key: SortKey, text: string, numeric = true) => (
    <th className={numeric ? "num" : ""} aria-sort={sort.key === key ? (sort.desc ? "descending" : "ascending") : "none"}>
      <button type="button" onClick={() => setSort({ key, desc: sort.key === key ? !sort.desc : key !== "name" })}>
        {text}
        {sort.key === key ? (sort.desc ? " ▼" : " ▲") : ""}
      </button>
    </th>
  );

  return (
    <div className="table-wrap">
      <table className="functions" data-testid="function-table">
        <thead>
          <tr>
            {header("flat", "Flat")}
            <th className="num">Flat %</th>
            {header("cumulative", "Cumulative")}
            <th className="num">Cum %</th>
            {diff && header("change", "Change")}
            {header("name", "Function", false)}
            <th>Binary</th>
          </tr>
        </thead>
        <tbody>
          {shown.slice(0, LIMIT).map((r) => {
            const c = change(r);
            return (
              <tr
                key={`${r.name}\u0000${r.binary}`}
                className={r.name === selected ? "selected" : ""}
                tabIndex={0}
                aria-selected={r.name === selected}
                onClick={() => onSelect(r.name === selected ? "" : r.name)}
                onKeyDown={(e) => {
                  if (e.key === "Enter" || e.key === " ") {
                    onSelect(r.name === selected ? "" : r.name);
                    e.preventDefault();
                  }
                }}
              >
                <td className="num">{formatValue(r.flat, unit)}</td>
                <td className="num">{formatPercent(r.flat, total)}</td>
                <td className="num">{formatValue(r.cumulative, unit)}</td>
                <td className="num">{formatPercent(r.cumulative, total)}</td>
                {diff && (
                  <td className="num">
                    <span className="swatch" style={{ background: diffColor(diffIntensity(r.cumulative, r.cumulativeDiff, total, baselineTotal!), theme) }} />
                    {formatShareChange(c).replace(" of the whole", "")}
                  </td>
                )}
                <td className="fn" title={r.name}>
                  {r.name}
                </td>
                <td className="bin">{r.binary}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {shown.length > LIMIT && (
        <p className="muted">
          Showing {LIMIT} of {shown.length} functions; search to narrow.
        </p>
      )}
      {shown.length === 0 && <p className="muted">No function matches “{filter}”.</p>}
    </div>
  );
});
