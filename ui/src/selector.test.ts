import { describe, expect, it } from "vitest";
import { buildQuery, completionContext, formatMatchers, parseSelector, seriesSelector } from "./selector";

describe("parseSelector", () => {
  it("parses matchers with every operator", () => {
    const r = parseSelector(`{job="api", pod=~"web-.*",zone!="b" , comm!~'py.*'}`);
    expect(r).toEqual({
      ok: true,
      selector: {
        type: "",
        matchers: [
          { name: "job", op: "=", value: "api" },
          { name: "pod", op: "=~", value: "web-.*" },
          { name: "zone", op: "!=", value: "b" },
          { name: "comm", op: "!~", value: "py.*" },
        ],
      },
    });
  });

  it("parses a leading profile type and escapes", () => {
    const r = parseSelector(`process_cpu:cpu:nanoseconds:cpu:nanoseconds:delta{a="x\\"y"}`);
    expect(r.ok && r.selector.type).toBe("process_cpu:cpu:nanoseconds:cpu:nanoseconds:delta");
    expect(r.ok && r.selector.matchers[0].value).toBe('x"y');
  });

  it("accepts empty input and empty braces", () => {
    expect(parseSelector("")).toEqual({ ok: true, selector: { type: "", matchers: [] } });
    expect(parseSelector(" {} ")).toEqual({ ok: true, selector: { type: "", matchers: [] } });
  });

  it.each([
    [`{job="api"`, 'missing closing "}"', 10],
    [`{job}`, "expected =, !=, =~ or !~ after \"job\"", 4],
    [`{job=api}`, 'expected a quoted value for "job"', 5],
    [`{job="api}`, 'unterminated value for "job"', 5],
    [`{1job="x"}`, 'expected a label name, found "1"', 1],
    [`{job="a" pod="b"}`, 'expected "," or "}", found "p"', 9],
    [`{} x`, 'unexpected "x" after "}"', 3],
  ])("reports %s with its position", (input, message, at) => {
    const r = parseSelector(input);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.message).toBe(message);
      expect(r.error.at).toBe(at);
    }
  });

  it("rejects an invalid regular expression", () => {
    const r = parseSelector(`{pod=~"web-("}`);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).toMatch(/^invalid regular expression for "pod"/);
  });

  it("round-trips through formatMatchers", () => {
    const text = `{a="1",b=~"x|y",c!="q\\"uote"}`;
    const r = parseSelector(text);
    expect(r.ok && formatMatchers(r.selector.matchers)).toBe(text);
  });
});

describe("queries", () => {
  it("builds the server query with braces", () => {
    expect(buildQuery("t:a:b:c:d", [])).toBe("t:a:b:c:d{}");
    expect(buildQuery("t", [{ name: "job", op: "=", value: "x" }])).toBe('t{job="x"}');
  });
  it("makes a series selector without __name__", () => {
    expect(seriesSelector([{ name: "__name__", value: "process_cpu" }, { name: "job", value: "api" }])).toBe('{job="api"}');
  });
});

describe("completionContext", () => {
  it("completes a label name after { and after a comma", () => {
    expect(completionContext("{jo", 3)).toEqual({ kind: "name", prefix: "jo", from: 1, to: 3, used: [] });
    const c = completionContext(`{job="api", po}`, 14);
    expect(c).toEqual({ kind: "name", prefix: "po", from: 12, to: 14, used: ["job"] });
  });
  it("completes a value inside quotes, naming the label", () => {
    expect(completionContext(`{job="ap`, 8)).toEqual({ kind: "value", label: "job", prefix: "ap", from: 6, to: 8 });
    expect(completionContext(`{job=~"ap"}`, 8)).toEqual({ kind: "value", label: "job", prefix: "a", from: 7, to: 9 });
  });
  it("offers nothing outside braces or after an operator", () => {
    expect(completionContext("abc", 2)).toEqual({ kind: "none" });
    expect(completionContext(`{job=`, 5)).toEqual({ kind: "none" });
  });
});
