import { memo, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import {
  buildQueryRequest,
  errorMessage,
  isUnreachable,
  labelNames,
  labelValues,
  profileTypeId,
  profileTypes,
  query,
  queryRange,
  Report,
  sampleUnit,
  type ProfileSource,
} from "./api";
import { decodeFlamegraph, decodeTable, type FunctionRow } from "./flame/arrow";
import type { Theme } from "./flame/colors";
import type { FlameTree, Highlight } from "./flame/model";
import { matchNodes } from "./flame/model";
import { formatDateTime, resolveRange, resolveTime } from "./time";
import { formatPercent, formatValue } from "./format";
import { useAsync, useTheme, useUrlState, valueOf } from "./hooks";
import { pinTimes, serializeState, type Side, type View, type ViewState } from "./url";
import { seriesSelector } from "./selector";
import { FlameGraph } from "./components/FlameGraph";
import { FunctionTable } from "./components/FunctionTable";
import { MetricsGraph } from "./components/MetricsGraph";
import { SelectorInput } from "./components/SelectorInput";
import { TimeRangePicker } from "./components/TimeRangePicker";

const REFRESH = [0, 10, 30, 60, 300];

// What changes only how the loaded profile is shown, not what is queried: changing it keeps `now`, so relative time
// ranges resolve as before and nothing is fetched again (a zoom must not reload the profile it zooms into).
const SHOWN_ONLY: ReadonlySet<string> = new Set<keyof ViewState>(["zoom", "view", "search"]);

function sourceOf(side: Side, type: string, now: number): ProfileSource | null {
  if (side.at !== undefined) return { kind: "single", query: `${type}${side.atQuery || side.query || "{}"}`, at: side.at };
  if (side.selFrom !== undefined && side.selTo !== undefined) return { kind: "merge", query: `${type}${side.query || "{}"}`, from: side.selFrom, to: side.selTo };
  const r = resolveRange(side.from, side.to, now);
  return r ? { kind: "merge", query: `${type}${side.query || "{}"}`, from: r.from, to: r.to } : null;
}

function describeSource(src: ProfileSource): string {
  return src.kind === "single" ? `single profile at ${formatDateTime(src.at)}` : `merged ${formatDateTime(src.from)} – ${formatDateTime(src.to)}`;
}

export function App() {
  const [state, setState] = useUrlState();
  const theme = useTheme();
  const [now, setNow] = useState(() => Date.now());
  const [retry, setRetry] = useState(0);

  useEffect(() => {
    if (!state.refresh) return;
    const t = window.setInterval(() => setNow(Date.now()), state.refresh * 1000);
    return () => window.clearInterval(t);
  }, [state.refresh]);

  const types = useAsync(`types:${retry}:${state.refresh ? now : 0}`, (signal) => profileTypes(signal));
  const typeList = valueOf(types) ?? [];
  const unreachable = types.status === "error" && isUnreachable(types.error);

  // While the server is unreachable, try again every 5 seconds.
  useEffect(() => {
    if (!unreachable) return;
    const t = window.setTimeout(() => setRetry((r) => r + 1), 5000);
    return () => window.clearTimeout(t);
  }, [unreachable, retry]);

  // Choose a type when none is in the URL: prefer CPU.
  useEffect(() => {
    if (state.type || typeList.length === 0) return;
    const ids = typeList.map(profileTypeId);
    const pick = ids.find((id) => /cpu/.test(id)) ?? ids[0];
    setState({ ...state, type: pick });
  }, [typeList, state, setState]);

  // Stable across renders (it reads the latest state through a ref), so that the panels it is handed to can skip
  // re-rendering when only the zoom or the search changed.
  const stateRef = useRef(state);
  useLayoutEffect(() => {
    stateRef.current = state;
  }, [state]);
  const update = useCallback(
    (patch: Partial<ViewState>, push = true) => {
      if (Object.keys(patch).some((k) => !SHOWN_ONLY.has(k))) setNow(Date.now());
      const next = { ...stateRef.current, ...patch };
      stateRef.current = next;
      setState(next, push);
    },
    [setState],
  );
  const onChangeA = useCallback((a: Side, push: boolean) => update({ a, zoom: [] }, push), [update]);
  const onChangeB = useCallback((b: Side, push: boolean) => update({ b, zoom: [] }, push), [update]);

  const range = resolveRange(state.a.from, state.a.to, now);
  const names = useLabelNames(state.type, range);

  if (unreachable) {
    return (
      <Shell>
        <div className="banner error" role="alert">
          <h2>Cannot reach the Kiln server</h2>
          <p>
            The UI could not connect to <code>{window.location.origin}</code>: {errorMessage(types.status === "error" ? types.error : null)}. Check that{" "}
            <code>kiln server</code> is running and reachable from this browser. Retrying every 5 seconds…
          </p>
          <button type="button" onClick={() => setRetry((r) => r + 1)}>
            Retry now
          </button>
        </div>
      </Shell>
    );
  }
  if (types.status === "done" && typeList.length === 0) {
    return (
      <Shell>
        <EmptyState />
      </Shell>
    );
  }

  const typeIds = typeList.map(profileTypeId);
  if (state.type && !typeIds.includes(state.type)) typeIds.push(state.type);
  const unit = sampleUnit(state.type);
  const compare = state.b !== undefined;

  return (
    <Shell
      controls={
        <>
          <label className="field">
            <span>Profile type</span>
            <select aria-label="Profile type" value={state.type} onChange={(e) => update({ type: e.target.value, zoom: [] })} data-testid="profile-type">
              {!state.type && <option value="">Loading…</option>}
              {typeIds.map((id) => (
                <option key={id} value={id}>
                  {id}
                </option>
              ))}
            </select>
          </label>
          <label className="field">
            <span>Sum by</span>
            <select aria-label="Sum by label" value={state.sumBy[0] ?? ""} onChange={(e) => update({ sumBy: e.target.value ? [e.target.value] : [] })}>
              <option value="">each series</option>
              {names.map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
          </label>
          <label className="field">
            <span>Refresh</span>
            <select aria-label="Auto-refresh" value={state.refresh} onChange={(e) => update({ refresh: Number(e.target.value) }, false)}>
              {REFRESH.map((r) => (
                <option key={r} value={r}>
                  {r === 0 ? "off" : r < 60 ? `every ${r}s` : `every ${r / 60}m`}
                </option>
              ))}
            </select>
          </label>
          <button
            type="button"
            className={compare ? "toggle on" : "toggle"}
            aria-pressed={compare}
            onClick={() => update({ b: compare ? undefined : { query: state.a.query, from: state.a.from, to: state.a.to }, zoom: [] })}
          >
            Compare
          </button>
        </>
      }
    >
      {types.status === "error" && <div className="banner error">Could not load profile types: {errorMessage(types.error)}</div>}
      <div className={compare ? "sides two" : "sides"}>
        <SidePanel
          title={compare ? "Baseline (A)" : ""}
          side={state.a}
          type={state.type}
          sumBy={state.sumBy}
          now={now}
          theme={theme}
          onChange={onChangeA}
        />
        {state.b && <SidePanel title="Compared (B)" side={state.b} type={state.type} sumBy={state.sumBy} now={now} theme={theme} onChange={onChangeB} />}
      </div>
      {state.type && <ProfileArea state={state} now={now} unit={unit} theme={theme} update={update} />}
    </Shell>
  );
}

function useLabelNames(type: string, range: { from: number; to: number } | null): string[] {
  const key = type && range ? `names:${type}:${Math.floor(range.from / 60000)}` : null;
  const names = useAsync(key, (signal) => labelNames(type, range!.from, range!.to, signal));
  return valueOf(names) ?? [];
}

function Shell({ controls, children }: { controls?: React.ReactNode; children: React.ReactNode }) {
  return (
    <div className="app">
      <header className="top">
        <a className="brand" href="/" aria-label="Kiln home">
          <svg width="22" height="22" viewBox="0 0 16 16" aria-hidden>
            <rect x="1" y="2" width="14" height="3" fill="#d9480f" />
            <rect x="1" y="6" width="9" height="3" fill="#f08c00" />
            <rect x="1" y="10" width="5" height="3" fill="#fab005" />
          </svg>
          Kiln
        </a>
        <div className="controls">{controls}</div>
      </header>
      <main>{children}</main>
    </div>
  );
}

function EmptyState() {
  const host = window.location.host;
  return (
    <section className="empty" data-testid="empty-state">
      <h2>No profiles yet</h2>
      <p>This Kiln server has not received any profiles. Start the agent on each machine you want to profile:</p>
      <pre>
        <code>kiln agent --remote-store-address http://{host}</code>
      </pre>
      <p>or, on this machine, run the server and the agent together:</p>
      <pre>
        <code>kiln up</code>
      </pre>
      <p>
        You can also push any pprof file: <code>kiln push cpu.pb.gz --label job=api --address http://{host}</code>. Profiles appear here within seconds.
      </p>
    </section>
  );
}

interface SideProps {
  title: string;
  side: Side;
  type: string;
  sumBy: string[];
  now: number;
  theme: Theme;
  onChange: (side: Side, push: boolean) => void;
}

/** A side's selector, range and metrics graph; memoized, so that a zoom or search does not re-render it. */
const SidePanel = memo(function SidePanel({ title, side, type, sumBy, now, theme, onChange }: SideProps) {
  const range = resolveRange(side.from, side.to, now);
  const limit = 300;
  const key = type && range ? JSON.stringify([type, side.query, range, sumBy]) : null;
  const series = useAsync(key, (signal) => queryRange(`${type}${side.query || "{}"}`, range!.from, range!.to, sumBy, limit, signal));
  const list = valueOf(series) ?? [];
  const namesCache = useRef(new Map<string, Promise<string[]>>());
  useEffect(() => namesCache.current.clear(), [type]);
  const cached = (k: string, load: () => Promise<string[]>) => {
    let p = namesCache.current.get(k);
    if (!p) {
      p = load();
      p.catch(() => namesCache.current.delete(k));
      namesCache.current.set(k, p);
    }
    return p;
  };
  const r = range ?? { from: now - 3600_000, to: now };
  const loadNames = useCallback(() => cached("\u0000names", () => labelNames(type, r.from, r.to)), [type, r.from, r.to]);
  const loadValues = useCallback((label: string) => cached(label, () => labelValues(type, label, r.from, r.to)), [type, r.from, r.to]);
  const clearSelection = (s: Side): Side => ({ query: s.query, from: s.from, to: s.to });

  return (
    <section className="side" aria-label={title || "Query"}>
      {title && <h2 className="side-title">{title}</h2>}
      <div className="query-row">
        <SelectorInput label={title ? `Label selector ${title}` : "Label selector"} value={side.query} onCommit={(q) => onChange({ ...clearSelection(side), query: q }, true)} loadNames={loadNames} loadValues={loadValues} />
        <TimeRangePicker label={title ? `Time range ${title}` : "Time range"} from={side.from} to={side.to} onChange={(from, to) => onChange({ query: side.query, from, to }, true)} />
      </div>
      {series.status === "error" && (
        <div className="banner error" role="alert">
          {errorMessage(series.error)}
        </div>
      )}
      {range && (
        <div className="graph-box">
          {series.status === "loading" && <div className="loading-bar" aria-hidden />}
          {series.status === "done" && list.length === 0 ? (
            <p className="muted graph-empty">No profiles match this selector in this time range. Widen the range or change the selector.</p>
          ) : (
            <MetricsGraph
              label={title || "Metrics"}
              series={list}
              from={range.from}
              to={range.to}
              unit={sampleUnit(type)}
              theme={theme}
              selection={side.selFrom !== undefined && side.selTo !== undefined ? { from: side.selFrom, to: side.selTo } : null}
              at={side.at ?? null}
              onRange={(from, to) => onChange({ ...clearSelection(side), selFrom: from, selTo: to }, true)}
              onPoint={(s, at, count) => {
                const sel = seriesSelector(s.labelset?.labels ?? []);
                // A bucket that merged several profiles (sum by, or many profiles per pixel) opens as a merge of
                // its step; a lone profile opens as itself.
                if (count > 1 || sumBy.length > 0) {
                  const pts = s.samples;
                  const step = pts.length > 1 ? (Number(pts[1].timestamp!.seconds) - Number(pts[0].timestamp!.seconds)) * 1000 : 1000;
                  onChange({ ...clearSelection(side), selFrom: at, selTo: at + Math.max(1000, step) }, true);
                } else {
                  onChange({ ...clearSelection(side), at, atQuery: sel }, true);
                }
              }}
            />
          )}
        </div>
      )}
      {(side.at !== undefined || side.selFrom !== undefined) && (
        <p className="selection-note">
          {side.at !== undefined ? `Showing the profile at ${formatDateTime(side.at)} of ${side.atQuery || "{}"}` : `Showing ${formatDateTime(side.selFrom!)} – ${formatDateTime(side.selTo!)} merged`}{" "}
          <button type="button" className="link" onClick={() => onChange(clearSelection(side), true)}>
            Show the whole range
          </button>
        </p>
      )}
    </section>
  );
});

interface ProfileData {
  tree: FlameTree;
  rows: FunctionRow[];
  decodeMs: number;
}

function ProfileArea({ state, now, unit, theme, update }: { state: ViewState; now: number; unit: string; theme: Theme; update: (p: Partial<ViewState>, push?: boolean) => void }) {
  const a = sourceOf(state.a, state.type, now);
  const b = state.b ? sourceOf(state.b, state.type, now) : null;
  const compare = state.b !== undefined;
  const main = compare ? b : a;
  const baseline = compare ? a : null;
  const key = main && (!compare || baseline) ? JSON.stringify([main, baseline]) : null;
  const profile = useAsync<ProfileData>(key, async (signal) => {
    const [flame, table] = await Promise.all([
      query(buildQueryRequest(main!, Report.FLAMEGRAPH_ARROW, baseline ?? undefined), signal),
      query(buildQueryRequest(main!, Report.TABLE_ARROW, baseline ?? undefined), signal),
    ]);
    const started = performance.now();
    if (flame.report.case !== "flamegraphArrow" || table.report.case !== "tableArrow") throw new Error("the server answered with an unexpected report type");
    const tree = decodeFlamegraph(flame.report.value.record, compare);
    const rows = decodeTable(table.report.value.record);
    return { tree, rows, decodeMs: performance.now() - started };
  });
  const data = valueOf(profile);
  const [selected, setSelected] = useState("");
  const [search, setSearch] = useState(state.search);
  useEffect(() => setSearch(state.search), [state.search]);
  const [copied, setCopied] = useState("");

  const highlight: Highlight = selected ? { text: selected, exact: true } : state.search ? { text: state.search, exact: false } : null;
  const matches = useMemo(() => (data && highlight ? matchNodes(data.tree, highlight) : null), [data, highlight?.text, highlight?.exact]); // eslint-disable-line react-hooks/exhaustive-deps

  const download = async () => {
    if (!main) return;
    try {
      const r = await query(buildQueryRequest(main, Report.PPROF, baseline ?? undefined));
      if (r.report.case !== "pprof") throw new Error("no pprof in the answer");
      const bytes = r.report.value;
      const gz = bytes[0] === 0x1f && bytes[1] === 0x8b;
      const name = `kiln-${state.type.split(":")[0]}-${new Date().toISOString().replace(/[:.]/g, "-")}${compare ? "-diff" : ""}.pb${gz ? ".gz" : ""}`;
      const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type: "application/octet-stream" }));
      const link = document.createElement("a");
      link.href = url;
      link.download = name;
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (e) {
      setCopied(`Download failed: ${errorMessage(e)}`);
    }
  };

  const copyLink = async () => {
    const url = `${window.location.origin}${window.location.pathname}${serializeState(pinTimes(state, (e) => resolveTime(e, now)))}`;
    try {
      await navigator.clipboard.writeText(url);
    } catch {
      // Clipboard API needs a secure context; plain http on a non-local host falls back to a selection copy.
      const area = document.createElement("textarea");
      area.value = url;
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    setCopied("Link copied (with absolute times)");
    setTimeout(() => setCopied(""), 2500);
  };

  const setView = (view: View) => update({ view }, false);
  const total = data?.tree.total ?? 0;
  const baselineTotal = data?.tree.diff ? data.tree.cumulative[0] - data.tree.diff[0] : null;

  return (
    <section className="profile" aria-label="Profile">
      <div className="profile-bar">
        <div className="segmented" role="group" aria-label="View">
          {(["flame", "table", "both"] as const).map((v) => (
            <button key={v} type="button" aria-pressed={state.view === v} className={state.view === v ? "on" : ""} onClick={() => setView(v)}>
              {v === "flame" ? "Flame graph" : v === "table" ? "Table" : "Both"}
            </button>
          ))}
        </div>
        <input
          type="search"
          className="search"
          aria-label="Search functions"
          placeholder="Search functions (text or regex)"
          value={search}
          onChange={(e) => {
            setSearch(e.target.value);
            setSelected("");
            update({ search: e.target.value }, false);
          }}
        />
        {matches && highlight && (
          <span className="match-info" data-testid="match-info">
            {matches.count} frames match “{highlight.text}”: {formatPercent(matches.total, total)} of total ({formatValue(matches.total, unit)})
          </span>
        )}
        <span className="spacer" />
        <button type="button" onClick={download} disabled={!main}>
          Download pprof
        </button>
        <button type="button" onClick={copyLink}>
          Copy link
        </button>
        {copied && (
          <span className="muted" role="status">
            {copied}
          </span>
        )}
      </div>
      <p className="muted profile-desc">
        {main && (compare && baseline ? `B (${describeSource(main)}) compared with A (${describeSource(baseline)}); red: larger share in B, green: smaller.` : `${describeSource(main)}.`)}{" "}
        {data && `Total ${formatValue(total, unit)}${baselineTotal !== null ? ` (baseline ${formatValue(baselineTotal, unit)})` : ""}, ${data.tree.size.toLocaleString()} frames.`}
      </p>
      {profile.status === "error" && (
        <div className="banner error" role="alert">
          Could not load the profile: {errorMessage(profile.error)}
        </div>
      )}
      {profile.status === "loading" && <div className="loading-bar" aria-hidden />}
      {data && data.tree.total === 0 && baselineTotal === 0 ? (
        <p className="muted">No samples in this selection.</p>
      ) : data && data.tree.size > 0 ? (
        <div className={state.view === "both" ? "panes both" : "panes"}>
          {state.view !== "flame" && (
            <FunctionTable
              key={compare ? "diff" : "profile"}
              rows={data.rows}
              unit={unit}
              total={total}
              baselineTotal={baselineTotal}
              filter={selected ? "" : state.search}
              selected={selected}
              onSelect={setSelected}
              theme={theme}
            />
          )}
          {state.view !== "table" && (
            <FlameGraph tree={data.tree} unit={unit} theme={theme} highlight={highlight} zoom={state.zoom} onZoom={(zoom) => update({ zoom }, true)} />
          )}
        </div>
      ) : null}
    </section>
  );
}
