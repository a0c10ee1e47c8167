import { describe, expect, it } from "vitest";
import { binaryColor, binaryPalette, diffColor, diffIntensity, diffTotals, DARK, LIGHT, shareChange } from "./colors";

describe("diff colouring", () => {
  // baseline total 200, compared total 100
  const totals = diffTotals(100, -100);
  it("derives both totals from the root", () => {
    expect(totals).toEqual({ compared: 100, baseline: 200 });
  });
  it("is neutral when the share did not change even though the value did", () => {
    // 50 of 100 now, 100 of 200 before: diff = 50 - 100
    expect(shareChange(50, -50, totals.compared, totals.baseline)).toBeCloseTo(0);
    expect(diffIntensity(50, -50, totals.compared, totals.baseline)).toBe(0);
  });
  it("is positive (red) for a larger share and negative for a smaller one", () => {
    // 60 of 100 now vs 40 of 200 before
    expect(shareChange(60, 20, 100, 200)).toBeCloseTo(0.4);
    expect(diffIntensity(60, 20, 100, 200)).toBeCloseTo((0.6 - 0.2) / 0.6);
    expect(diffIntensity(10, -90, 100, 200)).toBeCloseTo((0.1 - 0.5) / 0.5);
  });
  it("saturates for new and vanished functions", () => {
    expect(diffIntensity(30, 30, 100, 200)).toBe(1);
    expect(diffIntensity(0, -20, 100, 200)).toBe(-1);
  });
  it("maps intensity to red, green-blue and grey", () => {
    expect(diffColor(0, LIGHT)).toMatch(/^hsl\(220 /);
    expect(diffColor(1, LIGHT)).toMatch(/^hsl\(0 90% /);
    expect(diffColor(-1, DARK)).toMatch(/^hsl\(165 80% /);
    // stronger change is more saturated
    const sat = (c: string) => Number(/hsl\(\d+ (\d+)%/.exec(c)![1]);
    expect(sat(diffColor(0.8, LIGHT))).toBeGreaterThan(sat(diffColor(0.2, LIGHT)));
  });
});

describe("binary colours", () => {
  it("are stable per binary and grey when unknown", () => {
    expect(binaryColor("libc.so.6", LIGHT)).toBe(binaryColor("libc.so.6", LIGHT));
    expect(binaryColor("", LIGHT)).toMatch(/^hsl\(220 8%/);
    expect(binaryColor("app", DARK)).not.toBe(binaryColor("app", LIGHT));
  });
});

describe("binary palette", () => {
  const many = Array.from({ length: 12 }, (_, k) => `lib${k}.so`);
  it("gives up to twelve binaries twelve different colours", () => {
    expect(new Set(binaryPalette(many, LIGHT)).size).toBe(12);
    expect(new Set(binaryPalette(["libc.so.6", "libz.so.1", "app", "goburn"], LIGHT)).size).toBe(4);
  });
  it("keeps a binary's own colour when nothing collides, and does not depend on the order given", () => {
    expect(binaryPalette(["libc.so.6"], LIGHT)).toEqual([binaryColor("libc.so.6", LIGHT)]);
    const ab = binaryPalette(many, DARK);
    const ba = binaryPalette([...many].reverse(), DARK).reverse();
    expect(ba).toEqual(ab);
  });
  it("is grey for an unknown binary", () => {
    expect(binaryPalette(["", "app"], LIGHT)[0]).toBe(binaryColor("", LIGHT));
  });
});
