// The whole view lives in the URL's query string, so a reload or a shared link shows the same thing.

export interface Side {
  /** Matchers only, e.g. `{job="api"}`; "" for all series of the type. */
  query: string;
  from: string;
  to: string;
  /** A range chosen on the metrics graph (epoch ms): the profile shown is merged over it. */
  selFrom?: number;
  selTo?: number;
  /** A point clicked on the metrics graph: the single profile at this time (epoch ms) of series `atQuery`. */
  at?: number;
  atQuery?: string;
}

export type View = "flame" | "table" | "both";

export interface ViewState {
  type: string;
  a: Side;
  /** Present in compare mode: the side compared against `a` (the baseline). */
  b?: Side;
  sumBy: string[];
  /** Auto-refresh period in seconds; 0 is off. */
  refresh: number;
  view: View;
  search: string;
  /** Function names from the root's child down to the zoomed node. */
  zoom: string[];
}

export const DEFAULT_SIDE: Side = { query: "", from: "now-1h", to: "now" };

export const DEFAULT_STATE: ViewState = {
  type: "",
  a: DEFAULT_SIDE,
  sumBy: [],
  refresh: 0,
  view: "both",
  search: "",
  zoom: [],
};

function num(v: string | null): number | undefined {
  if (v === null || v === "" || !/^-?\d+$/.test(v)) return undefined;
  return Number(v);
}

function readSide(p: URLSearchParams, suffix: string, fallback: Side): Side {
  const side: Side = {
    query: p.get(`q${suffix}`) ?? fallback.query,
    from: p.get(`from${suffix}`) ?? fallback.from,
    to: p.get(`to${suffix}`) ?? fallback.to,
  };
  const sf = num(p.get(`sf${suffix}`));
  const st = num(p.get(`st${suffix}`));
  if (sf !== undefined && st !== undefined && sf < st) {
    side.selFrom = sf;
    side.selTo = st;
  }
  const at = num(p.get(`at${suffix}`));
  if (at !== undefined) {
    side.at = at;
    side.atQuery = p.get(`aq${suffix}`) ?? "";
  }
  return side;
}

function writeSide(p: URLSearchParams, suffix: string, side: Side) {
  if (side.query) p.set(`q${suffix}`, side.query);
  if (side.from !== DEFAULT_SIDE.from) p.set(`from${suffix}`, side.from);
  if (side.to !== DEFAULT_SIDE.to) p.set(`to${suffix}`, side.to);
  if (side.selFrom !== undefined && side.selTo !== undefined) {
    p.set(`sf${suffix}`, String(side.selFrom));
    p.set(`st${suffix}`, String(side.selTo));
  }
  if (side.at !== undefined) {
    p.set(`at${suffix}`, String(side.at));
    p.set(`aq${suffix}`, side.atQuery ?? "");
  }
}

export function parseState(search: string): ViewState {
  const p = new URLSearchParams(search);
  const view = p.get("view");
  const refresh = num(p.get("refresh"));
  const a = readSide(p, "", DEFAULT_SIDE);
  return {
    type: p.get("type") ?? "",
    a,
    b: p.get("compare") === "1" ? readSide(p, "2", { query: a.query, from: a.from, to: a.to }) : undefined,
    sumBy: (p.get("sumby") ?? "").split(",").filter(Boolean),
    refresh: refresh !== undefined && refresh > 0 ? refresh : 0,
    view: view === "flame" || view === "table" || view === "both" ? view : DEFAULT_STATE.view,
    search: p.get("search") ?? "",
    zoom: p.getAll("zoom"),
  };
}

export function serializeState(s: ViewState): string {
  const p = new URLSearchParams();
  if (s.type) p.set("type", s.type);
  writeSide(p, "", s.a);
  if (s.b) {
    p.set("compare", "1");
    // The compared side is always written in full so that it does not follow later edits of side a.
    p.set("q2", s.b.query);
    p.set("from2", s.b.from);
    p.set("to2", s.b.to);
    writeSide(p, "2", { ...s.b, query: "", from: DEFAULT_SIDE.from, to: DEFAULT_SIDE.to });
  }
  if (s.sumBy.length) p.set("sumby", s.sumBy.join(","));
  if (s.refresh) p.set("refresh", String(s.refresh));
  if (s.view !== DEFAULT_STATE.view) p.set("view", s.view);
  if (s.search) p.set("search", s.search);
  for (const z of s.zoom) p.append("zoom", z);
  const text = p.toString();
  return text ? `?${text}` : "";
}

/** A copy of the state whose relative times are pinned to absolute ones, for a link that shows the same data later. */
export function pinTimes(s: ViewState, resolve: (expr: string) => number | null): ViewState {
  const pin = (side: Side): Side => ({
    ...side,
    from: String(resolve(side.from) ?? side.from),
    to: String(resolve(side.to) ?? side.to),
  });
  return { ...s, a: pin(s.a), b: s.b ? pin(s.b) : undefined, refresh: 0 };
}
