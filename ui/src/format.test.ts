import { describe, expect, it } from "vitest";
import { formatPercent, formatValue } from "./format";

describe("formatting", () => {
  it("formats values by unit", () => {
    expect(formatValue(2_060_000_000, "nanoseconds")).toBe("2.06 s");
    expect(formatValue(197.4e9, "nanoseconds")).toBe("3.29 min");
    expect(formatValue(1536, "bytes")).toBe("1.50 KiB");
    expect(formatValue(12_345, "count")).toBe("12.3k");
  });
  it("formats shares without exponents", () => {
    expect(formatPercent(2, 3)).toBe("66.7%");
    expect(formatPercent(1, 200)).toBe("0.50%");
    expect(formatPercent(1, 1_000_000)).toBe("<0.01%");
    expect(formatPercent(-1, 1_000_000)).toBe(">-0.01%");
    expect(formatPercent(0, 10)).toBe("0.00%");
    expect(formatPercent(5, 0)).toBe("0%");
  });
});
