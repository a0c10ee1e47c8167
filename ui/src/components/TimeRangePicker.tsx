import { useEffect, useState } from "react";
import { PRESETS, resolveRange, toLocalInput } from "../time";

interface Props {
  from: string;
  to: string;
  onChange: (from: string, to: string) => void;
  label: string;
}

/** Presets (last 5m … 7d) or a custom absolute range. */
export function TimeRangePicker({ from, to, onChange, label }: Props) {
  const preset = to === "now" ? PRESETS.find((p) => p.from === from) : undefined;
  const [custom, setCustom] = useState(!preset);
  const resolved = resolveRange(from, to, Date.now());
  const [start, setStart] = useState("");
  const [end, setEnd] = useState("");
  useEffect(() => {
    if (resolved) {
      setStart(toLocalInput(resolved.from));
      setEnd(toLocalInput(resolved.to));
    }
    setCustom(!preset);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [from, to]);
  const s = Date.parse(start);
  const e = Date.parse(end);
  const invalid = custom && (Number.isNaN(s) || Number.isNaN(e) || s >= e);
  return (
    <div className="time-range">
      <select
        aria-label={label}
        value={custom ? "custom" : preset?.from}
        onChange={(ev) => {
          if (ev.target.value === "custom") setCustom(true);
          else {
            setCustom(false);
            onChange(ev.target.value, "now");
          }
        }}
      >
        {PRESETS.map((p) => (
          <option key={p.label} value={p.from}>
            Last {p.label}
          </option>
        ))}
        <option value="custom">Custom…</option>
      </select>
      {custom && (
        <>
          <input type="datetime-local" step={1} aria-label="From" value={start} onChange={(ev) => setStart(ev.target.value)} />
          <input type="datetime-local" step={1} aria-label="To" value={end} onChange={(ev) => setEnd(ev.target.value)} />
          <button type="button" disabled={invalid} onClick={() => onChange(String(s), String(e))}>
            Apply
          </button>
          {invalid && <span className="field-error inline">the start must be before the end</span>}
        </>
      )}
    </div>
  );
}
