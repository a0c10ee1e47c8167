import { describe, expect, it } from "vitest";
import { DEFAULT_STATE, parseState, pinTimes, serializeState, type ViewState } from "./url";
import { resolveRange, resolveTime } from "./time";

describe("URL state", () => {
  it("is empty for the default view and parses back to it", () => {
    expect(serializeState(DEFAULT_STATE)).toBe("");
    expect(parseState("")).toEqual(DEFAULT_STATE);
  });

  it("round-trips a full view including compare side and zoom path", () => {
    const s: ViewState = {
      type: "process_cpu:cpu:nanoseconds:cpu:nanoseconds:delta",
      a: { query: '{job="api"}', from: "now-6h", to: "now", selFrom: 1000, selTo: 2000 },
      b: { query: '{job="web"}', from: "1700000000000", to: "1700003600000", at: 1700000001000, atQuery: '{job="web",pod="p1"}' },
      sumBy: ["pod", "node"],
      refresh: 30,
      view: "table",
      search: "runtime.",
      zoom: ["main.main", "main.burn;x"],
    };
    const text = serializeState(s);
    expect(parseState(text)).toEqual(s);
    expect(new URLSearchParams(text).getAll("zoom")).toEqual(["main.main", "main.burn;x"]);
  });

  it("ignores malformed values", () => {
    const s = parseState("?view=nope&refresh=-5&sf=10&st=5&at=x");
    expect(s.view).toBe("both");
    expect(s.refresh).toBe(0);
    expect(s.a.selFrom).toBeUndefined();
    expect(s.a.at).toBeUndefined();
  });

  it("compare side starts from side a when only compare=1 is given", () => {
    const s = parseState('?q=%7Bjob%3D%22a%22%7D&from=now-15m&compare=1');
    expect(s.b).toEqual({ query: '{job="a"}', from: "now-15m", to: "now" });
  });

  it("pins relative times for a share link", () => {
    const now = 1_700_000_000_000;
    const s = pinTimes({ ...DEFAULT_STATE, refresh: 10 }, (e) => resolveTime(e, now));
    expect(s.a.from).toBe(String(now - 3_600_000));
    expect(s.a.to).toBe(String(now));
    expect(s.refresh).toBe(0);
  });
});

describe("time expressions", () => {
  const now = 1_700_000_000_000;
  it.each([
    ["now", now],
    ["now-5m", now - 300_000],
    ["now-7d", now - 7 * 86_400_000],
    ["1699999999000", 1699999999000],
    ["2023-11-14T22:13:20Z", 1_700_000_000_000],
    ["later", null],
  ])("%s", (expr, expected) => expect(resolveTime(expr, now)).toBe(expected));
  it("rejects an empty or inverted range", () => {
    expect(resolveRange("now", "now-1h", now)).toBeNull();
    expect(resolveRange("now-1h", "now", now)).toEqual({ from: now - 3_600_000, to: now });
  });
});
