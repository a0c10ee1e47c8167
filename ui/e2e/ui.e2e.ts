// The web UI end to end: a real kiln server with a real Go CPU profile (tests/workloads/goburn, where hotA does
// twice hotB's work) and synthetic profiles, driven in Debian's Chromium the way a person would use it.
// Screenshots go to ui/e2e/artifacts/.
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { artifacts, chromiumPath, goPath, KilnServer, kiln, launchChromium, pprofTop, profileGoburn, tempDir } from "./kiln";
import { cpuProfile, push, webStacks } from "./profiles";

const CPU = "process_cpu:cpu:nanoseconds:cpu:nanoseconds:delta";
const hasGo = goPath() !== null;

let server: KilnServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let work: string;

async function shot(name: string, target: Page = page) {
  await target.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

/** Opens the UI on a view given by URL parameters (the CPU type unless another is given), as a shared link would. */
async function open(params: Record<string, string> = {}) {
  await page.goto(`${server.address}/?${new URLSearchParams({ type: CPU, ...params })}`);
  await page.getByTestId("metrics-graph").waitFor();
}

/** The numbers of a percentage cell such as "66.7%". */
function percent(text: string | null): number {
  const m = /(-?[\d.]+)%/.exec(text ?? "");
  if (!m) throw new Error(`no percentage in ${JSON.stringify(text)}`);
  return Number(m[1]);
}

/** Follows the widest child down from the root with the keyboard; returns the names on the way (the docked details). */
async function widestPath(steps: number): Promise<string[]> {
  const canvas = page.getByTestId("flamegraph");
  await canvas.focus();
  const names: string[] = [];
  for (let k = 0; k < steps; k++) {
    await canvas.press("ArrowDown");
    names.push((await page.locator(".tooltip .tt-name").textContent()) ?? "");
  }
  return names;
}

// Skipped, not failed, without Chromium, as the Go tests are without Go; CI installs both.
describe.skipIf(!existsSync(chromiumPath))("web UI", () => {
  beforeAll(async () => {
    rmSync(artifacts, { recursive: true, force: true });
    mkdirSync(artifacts, { recursive: true });
    work = tempDir("kiln-ui-e2e-");
    server = await KilnServer.start();
    const now = Date.now();
    if (hasGo) {
      const file = join(work, "goburn.pb.gz");
      await profileGoburn(work, file);
      await kiln("push", file, "--label", "job=goburn", "--address", server.address);
    }
    // Two pods of a synthetic web service, one profile a minute for the last 20 minutes; web-2 spends more
    // time compressing.
    for (const [pod, share, load] of [["web-1", 0.1, 1], ["web-2", 0.4, 1.3]] as const) {
      const profiles = Array.from({ length: 20 }, (_, k) => cpuProfile(webStacks(share, load * (1 + (k % 3) * 0.1)), now - (20 - k) * 60_000));
      await push(server.address, { job: "shop", pod }, profiles);
    }
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1440, height: 1000 }, acceptDownloads: true });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.address });
    page = await context.newPage();
    page.setDefaultTimeout(20_000);
    page.on("pageerror", (e) => console.error("page error:", e));
  });

  afterEach(async (ctx) => {
    // A failed step leaves a picture of what the page showed.
    if (ctx.task.result?.state === "fail" && page && !page.isClosed()) await shot(`FAILED-${ctx.task.name.replace(/\W+/g, "-").slice(0, 60)}`);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  describe("web UI against a real kiln server", () => {
    it("opens on a CPU type with the metrics graph of every series", async () => {
      await page.goto(server.address);
      const type = page.getByTestId("profile-type");
      await expect.poll(() => type.inputValue()).toMatch(/cpu/);
      await type.selectOption(CPU);
      expect(new URL(page.url()).searchParams.get("type")).toBe(CPU);
      await page.getByTestId("metrics-graph").waitFor();
      const legend = page.locator(".series-legend");
      await expect.poll(() => legend.textContent()).toContain('pod="web-2"');
      expect(await legend.textContent()).toContain('pod="web-1"');
      if (hasGo) expect(await legend.textContent()).toContain('job="goburn"');
      await page.getByTestId("flamegraph").waitFor();
      await shot("01-overview");
    });

    it.skipIf(!hasGo)("shows goburn's flame graph with main.hotA on top, and its table", async () => {
      const selector = page.getByLabel("Label selector", { exact: true });
      await selector.fill('{job="goburn"}');
      await selector.press("Enter");
      await expect.poll(() => new URL(page.url()).searchParams.get("q")).toBe('{job="goburn"}');
      // The previous profile stays on screen while goburn's loads: wait for it, or the keyboard focus set below would
      // be reset when it arrives.
      await expect.poll(() => page.locator(".profile .loading-bar").count()).toBe(0);
      await expect.poll(() => page.locator(".profile-desc").textContent()).toMatch(/Total .* frames/);
      // Following the widest frame from the root reaches the hottest function, hotA (twice hotB's work).
      const path = await widestPath(4);
      expect(path).toContain("main.burn");
      expect(path[path.indexOf("main.burn") + 1]).toBe("main.hotA");
      const table = page.getByTestId("function-table");
      const first = table.locator("tbody tr").first();
      expect(await first.locator("td.fn").textContent()).toBe("main.hotA");
      const row = (name: string) => table.locator("tbody tr", { has: page.locator("td.fn", { hasText: new RegExp(`^${name.replace(".", "\\.")}$`) }) });
      const hotA = percent(await row("main.hotA").locator("td").nth(1).textContent());
      const hotB = percent(await row("main.hotB").locator("td").nth(1).textContent());
      expect(hotA / hotB).toBeGreaterThan(1.4);
      expect(hotA / hotB).toBeLessThan(2.8);
      await shot("02-goburn");
    });

    it.skipIf(!hasGo)("searches: highlights matches and shows their share", async () => {
      await page.getByLabel("Search functions").fill("hotB");
      const info = page.getByTestId("match-info");
      await expect.poll(() => info.textContent()).toMatch(/frames? match “hotB”/);
      const table = page.getByTestId("function-table");
      // The table is filtered to the match, and the search total is hotB's cumulative share.
      await expect.poll(() => table.locator("tbody tr").count()).toBe(1);
      const cum = percent(await table.locator("tbody tr td").nth(3).textContent());
      expect(percent(await info.textContent())).toBeCloseTo(cum, 1);
      await shot("03-search");
      await page.getByLabel("Search functions").fill("");
    });

    it.skipIf(!hasGo)("zooms by clicking a frame, keeps it across a reload, and resets", async () => {
      const canvas = page.getByTestId("flamegraph");
      const box = (await canvas.boundingBox())!;
      // Hover the middle of the third row: the tooltip names the frame; clicking it zooms there.
      await page.mouse.move(box.x + box.width / 2, box.y + 2.5 * 20);
      const name = await page.locator(".tooltip .tt-name").textContent();
      expect(name).toBeTruthy();
      expect(await page.locator(".tooltip").textContent()).toMatch(/Total.*%.*Self/);
      await page.mouse.click(box.x + box.width / 2, box.y + 2.5 * 20);
      const crumbs = page.locator(".crumbs .crumb");
      await expect.poll(() => crumbs.last().textContent()).toBe(name);
      expect(new URL(page.url()).searchParams.getAll("zoom").at(-1)).toBe(name);
      await shot("04-zoomed");
      await page.reload();
      await expect.poll(() => page.locator(".crumbs .crumb").last().textContent()).toBe(name);
      expect(await page.getByLabel("Label selector", { exact: true }).inputValue()).toBe('{job="goburn"}');
      await page.getByRole("button", { name: "Reset zoom" }).click();
      await expect.poll(() => page.locator(".crumbs .crumb").count()).toBe(1);
      expect(new URL(page.url()).searchParams.getAll("zoom")).toEqual([]);
    });

    it.skipIf(!hasGo)("downloads the profile as pprof that go tool pprof reads", async () => {
      const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download pprof" }).click()]);
      const file = join(work, "download.pb.gz");
      await download.saveAs(file);
      expect(download.suggestedFilename()).toMatch(/^kiln-process_cpu-.*\.pb(\.gz)?$/);
      expect(await pprofTop(file)).toMatch(/main\.hotA/);
    });

    it("table view sorts, and choosing a row highlights the function in the flame graph", async () => {
      await open({ q: '{job="shop"}' });
      await expect.poll(() => page.locator(".profile-desc").textContent()).toMatch(/Total .* frames/);
      await page.getByRole("button", { name: "Table", exact: true }).click();
      await expect.poll(() => page.getByTestId("flamegraph").count()).toBe(0);
      const table = page.getByTestId("function-table");
      // web-1: recv 0.6·0.9, web-2: recv 0.6·0.6 of busy time: recv has the most self time.
      expect(await table.locator("tbody tr td.fn").first().textContent()).toBe("recv");
      const cumulative = async () => (await table.locator("tbody tr td:nth-child(4)").allTextContents()).map(percent);
      await table.getByRole("button", { name: /^Cumulative/ }).click();
      const desc = await cumulative();
      // main.main, http.serve and api.handleOrders share the largest cumulative value; ties go by name.
      expect(await table.locator("tbody tr td.fn").first().textContent()).toBe("api.handleOrders");
      expect(desc).toEqual([...desc].sort((x, y) => y - x));
      await table.getByRole("button", { name: /^Cumulative/ }).click();
      const asc = await cumulative();
      expect(asc).toEqual([...desc].reverse());
      expect(await table.locator("th[aria-sort=ascending]").textContent()).toMatch(/^Cumulative/);
      await shot("05-table");
      await page.getByRole("button", { name: "Both", exact: true }).click();
      await table.locator("tbody tr", { hasText: "compress.Deflate" }).click();
      await expect.poll(() => page.getByTestId("match-info").textContent()).toMatch(/1 frames? match “compress\.Deflate”/);
      await shot("06-table-selection");
      await table.locator("tbody tr", { hasText: "compress.Deflate" }).click();
    });

    it("zooming and resetting redraw the loaded profile without querying the server again", async () => {
      await open({ q: '{job="shop"}', view: "both" });
      await expect.poll(() => page.locator(".profile-desc").textContent()).toMatch(/Total .* frames/);
      const desc = await page.locator(".profile-desc").textContent();
      const queries: string[] = [];
      const onRequest = (r: { url(): string }) => {
        if (r.url().includes("QueryService/")) queries.push(r.url());
      };
      page.on("request", onRequest);
      try {
        const canvas = page.getByTestId("flamegraph");
        const box = (await canvas.boundingBox())!;
        await page.mouse.click(box.x + box.width / 2, box.y + 2.5 * 20);
        await expect.poll(() => page.locator(".crumbs .crumb").count()).toBe(3);
        await page.getByRole("button", { name: "Reset zoom" }).click();
        await expect.poll(() => page.locator(".crumbs .crumb").count()).toBe(1);
        // A query would start right after the render that caused it; give it time to show up.
        await page.waitForTimeout(500);
      } finally {
        page.off("request", onRequest);
      }
      expect(queries).toEqual([]);
      expect(await page.locator(".profile-desc").textContent()).toBe(desc);
    });

    it("compare mode: a diff flame graph and table coloured by change in share", async () => {
      await open({ q: '{job="shop"}' });
      await page.getByRole("button", { name: "Compare" }).click();
      const a = page.getByLabel("Label selector Baseline (A)");
      const b = page.getByLabel("Label selector Compared (B)");
      await a.fill('{job="shop",pod="web-1"}');
      await a.press("Enter");
      await b.fill('{job="shop",pod="web-2"}');
      await b.press("Enter");
      await expect.poll(() => new URL(page.url()).searchParams.get("q")).toBe('{job="shop",pod="web-1"}');
      await expect.poll(() => page.locator(".profile-desc").textContent()).toMatch(/compared with A .*baseline/);
      const table = page.getByTestId("function-table");
      await expect.poll(() => table.locator("thead").textContent()).toContain("Change");
      const change = async (fn: string) => (await table.locator("tbody tr", { has: page.locator("td.fn", { hasText: fn }) }).locator("td").nth(4).textContent()) ?? "";
      // web-2 spends 40% of busy time compressing against web-1's 10%: a larger share; recv a smaller one.
      await expect.poll(() => change("compress.Deflate")).toMatch(/^\+/);
      expect(await change("recv")).toMatch(/^-/);
      expect(await page.locator(".legend").textContent()).toMatch(/larger share/);
      // Sorted by the size of the change: compression first.
      await expect.poll(() => table.locator("tbody tr td.fn").first().textContent()).toBe("compress.Deflate");
      await shot("07-compare");
      const url = new URL(page.url());
      expect(url.searchParams.get("compare")).toBe("1");
      expect(url.searchParams.get("q2")).toBe('{job="shop",pod="web-2"}');
      await page.getByRole("button", { name: "Compare" }).click();
    });

    it("the selector autocompletes label names and values and shows errors inline", async () => {
      await open();
      const selector = page.getByLabel("Label selector", { exact: true });
      await selector.fill("");
      await selector.focus();
      await selector.fill("{");
      const suggestions = page.getByRole("listbox");
      const options = suggestions.getByRole("option");
      await expect.poll(() => options.allTextContents()).toEqual(expect.arrayContaining(["job", "pod"]));
      await suggestions.getByRole("option", { name: "pod", exact: true }).click();
      expect(await selector.inputValue()).toBe('{pod="}');
      await expect.poll(() => options.allTextContents()).toEqual(["web-1", "web-2"]);
      await selector.press("ArrowDown");
      await selector.press("Enter");
      expect(await selector.inputValue()).toBe('{pod="web-2"}');
      await selector.press("Enter");
      await expect.poll(() => new URL(page.url()).searchParams.get("q")).toBe('{pod="web-2"}');
      await selector.fill("{pod=web}");
      const error = page.locator(".field-error");
      await expect.poll(() => error.textContent()).toContain('expected a quoted value for "pod"');
      expect(await selector.getAttribute("aria-invalid")).toBe("true");
      await shot("08-selector-error");
      await selector.fill('{job="shop"}');
      await selector.press("Enter");
    });

    it("the metrics graph: dragging selects a range, clicking a point opens that profile", async () => {
      await open({ q: '{job="shop"}', from: "now-6h" });
      await page.getByLabel("Time range", { exact: true }).selectOption("now-1h");
      await expect.poll(() => new URL(page.url()).searchParams.get("from")).toBeNull();
      const graph = page.getByTestId("metrics-graph");
      const box = (await graph.boundingBox())!;
      const y = box.y + box.height / 2;
      await page.mouse.move(box.x + box.width * 0.75, y);
      await page.mouse.down();
      await page.mouse.move(box.x + box.width * 0.95, y, { steps: 5 });
      await page.mouse.up();
      await expect.poll(() => page.locator(".selection-note").textContent()).toMatch(/merged/);
      const url = new URL(page.url());
      expect(Number(url.searchParams.get("st")) - Number(url.searchParams.get("sf"))).toBeGreaterThan(60_000);
      await shot("09-range");
      await page.getByRole("button", { name: "Show the whole range" }).click();
      // Keyboard: the last point of the first series, then Enter opens that single profile.
      await graph.focus();
      await graph.press("ArrowLeft");
      await expect.poll(() => page.locator(".graph-tip").textContent()).toMatch(/at \d{4}-/);
      await graph.press("Enter");
      await expect.poll(() => page.locator(".selection-note").textContent()).toMatch(/Showing the profile at/);
      await expect.poll(() => page.locator(".profile-desc").textContent()).toMatch(/single profile at .*Total/);
      await shot("10-single-profile");
    });

    it("sum by a label draws one line per value", async () => {
      await open({ q: '{job="shop"}' });
      await page.getByLabel("Sum by label").selectOption("pod");
      await expect.poll(() => page.locator(".series-legend li").allTextContents()).toEqual(['{pod="web-1"}', '{pod="web-2"}']);
      await page.getByLabel("Sum by label").selectOption("");
    });

    it("copies a share link with absolute times that brings the same view back", async () => {
      await open({ q: '{job="shop"}', view: "table" });
      await page.getByRole("button", { name: "Copy link" }).click();
      await expect.poll(() => page.getByRole("status").filter({ hasText: "Link copied" }).count()).toBe(1);
      const link = await page.evaluate(() => navigator.clipboard.readText());
      const params = new URL(link).searchParams;
      expect(params.get("type")).toBe(CPU);
      expect(params.get("from")).toMatch(/^\d+$/);
      const other = await context.newPage();
      await other.goto(link);
      await expect.poll(() => other.getByLabel("Label selector", { exact: true }).inputValue()).toBe('{job="shop"}');
      expect(await other.getByRole("button", { name: "Table", exact: true }).getAttribute("aria-pressed")).toBe("true");
      await other.close();
    });

    it("follows the dark system theme", async () => {
      await open({ q: '{job="shop"}' });
      await page.emulateMedia({ colorScheme: "dark" });
      const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      expect(bg).not.toBe("rgb(255, 255, 255)");
      await shot("11-dark");
      await page.emulateMedia({ colorScheme: "light" });
    });

    it("says so when the server cannot be reached", async () => {
      const p = await context.newPage();
      await p.route("**/parca.query.v1alpha1.QueryService/**", (r) => r.abort("connectionrefused"));
      await p.goto(server.address);
      await expect.poll(() => p.getByRole("alert").textContent()).toContain("Cannot reach the Kiln server");
      await shot("12-unreachable", p);
      await p.close();
    });
  });

  describe("web UI against an empty kiln server", () => {
    let empty: KilnServer;
    beforeAll(async () => {
      empty = await KilnServer.start();
    });
    afterAll(async () => {
      await empty?.stop();
    });

    it("tells how to start the agent", async () => {
      const p = await context.newPage();
      await p.goto(empty.address);
      const state = p.getByTestId("empty-state");
      await state.waitFor();
      expect(await state.textContent()).toContain("kiln agent --remote-store-address");
      await shot("13-empty", p);
      await p.close();
    });

    it("serves the page for UI paths and 404 for unknown API paths", async () => {
      expect((await fetch(`${empty.address}/some/view?type=x`)).headers.get("content-type")).toMatch(/text\/html/);
      expect((await fetch(`${empty.address}/api/nope`)).status).toBe(404);
      expect((await fetch(`${empty.address}/nope.js`)).status).toBe(404);
    });
  });
});
