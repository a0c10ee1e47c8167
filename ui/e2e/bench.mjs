// The flame graph benchmark (`npm run bench`): builds the UI with its benchmark page (bench.html), serves it on a
// loopback port, and measures in Debian's Chromium, over several page loads, a synthetic 100,000-node profile
// arriving as a FLAMEGRAPH_ARROW record:
//   first paint: from the record's bytes being available to the first frame (decode, layout, draw, one frame),
//   zoom: the synchronous re-render after a zoom (React update and canvas draw) for a series of zoom targets.
// Also reports the gzip size of the UI bundle the server ships. Prints a Markdown table; --json for raw numbers.
import { createReadStream, readdirSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { extname, join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "vite";
import { launchChromium } from "./chromium.mjs";

const ui = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const nodes = Number(args.find((a) => a.startsWith("--nodes="))?.slice(8) ?? 100_000);
const loads = Number(args.find((a) => a.startsWith("--loads="))?.slice(8) ?? 5);
const json = args.includes("--json");

function files(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));
}

/** gzip -9 size of what a browser loads for the UI: the page, its scripts and styles (the bench page excluded). */
function bundleSize(dist) {
  const index = readFileSync(join(dist, "index.html"), "utf8");
  const referenced = [...index.matchAll(/(?:src|href)="\/(assets\/[^"]+)"/g)].map((m) => m[1]);
  // Chunks the entry imports statically are preloaded with modulepreload links, which the regex above sees too.
  const parts = [join(dist, "index.html"), ...new Set(referenced.map((r) => join(dist, r)))];
  let raw = 0;
  let gz = 0;
  for (const p of parts) {
    const bytes = readFileSync(p);
    raw += bytes.length;
    gz += gzipSync(bytes, { level: 9 }).length;
  }
  return { files: parts.map((p) => p.slice(dist.length + 1)), raw, gzip: gz };
}

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const median = (xs) => quantile(xs, 0.5);

const out = mkdtempSync(join(tmpdir(), "kiln-ui-bench-"));
const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css" };
let server;
let browser;
try {
  const productDist = join(out, "ui");
  const benchDist = join(out, "bench");
  await build({ root: ui, logLevel: "warn", build: { outDir: productDist, emptyOutDir: true } });
  process.env.KILN_UI_BENCH = "1";
  await build({ root: ui, logLevel: "warn", build: { outDir: benchDist, emptyOutDir: true } });
  const bundle = bundleSize(productDist);

  server = createServer((req, res) => {
    const path = join(benchDist, decodeURIComponent(new URL(req.url, "http://x").pathname));
    if (!path.startsWith(benchDist) || !statSync(path, { throwIfNoEntry: false })?.isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": types[extname(path)] ?? "application/octet-stream" });
    createReadStream(path).pipe(res);
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  const url = `http://127.0.0.1:${server.address().port}/bench.html?nodes=${nodes}`;

  browser = await launchChromium();
  const page = await browser.newPage({ viewport: { width: 1500, height: 900 } });
  const runs = [];
  for (let k = 0; k < loads; k++) {
    await page.goto(url);
    await page.waitForFunction(() => window.__bench !== undefined, null, { timeout: 120_000 });
    const zoom = await page.evaluate(() => {
      const ms = [];
      // Three rounds over the targets, each ending with a reset to the root.
      for (let round = 0; round < 3; round++) {
        for (const node of window.__benchTargets) ms.push(window.__benchZoom(node));
        ms.push(window.__benchZoom(0));
      }
      return ms;
    });
    const r = await page.evaluate(() => window.__bench);
    runs.push({ ...r, zoomMs: zoom });
  }
  const firstPaint = runs.map((r) => r.firstPaintMs);
  const decode = runs.map((r) => r.decodeMs);
  const zooms = runs.flatMap((r) => r.zoomMs);
  // The first zoom after a page load also compiles the zoom path (cold JIT); reported on its own.
  const firstZooms = runs.map((r) => r.zoomMs[0]);
  const warmZooms = runs.flatMap((r) => r.zoomMs.slice(1));
  const result = {
    nodes,
    recordBytes: runs[0].recordBytes,
    loads,
    chromium: browser.version(),
    firstPaintMs: { median: median(firstPaint), max: Math.max(...firstPaint) },
    decodeMs: { median: median(decode) },
    zoomMs: { count: zooms.length, median: median(zooms), p95: quantile(zooms, 0.95), max: Math.max(...zooms) },
    firstZoomMs: { median: median(firstZooms), max: Math.max(...firstZooms) },
    warmZoomMs: { median: median(warmZooms), p95: quantile(warmZooms, 0.95), max: Math.max(...warmZooms) },
    drawnAtRoot: runs[0].drawn[0],
    bundle,
  };
  if (json) console.log(JSON.stringify(result, null, 2));
  else {
    const f = (x) => x.toFixed(1);
    console.log(`Flame graph of ${nodes.toLocaleString("en")} nodes (FLAMEGRAPH_ARROW record ${(result.recordBytes / 1024).toFixed(0)} KiB), Chromium ${result.chromium}, ${loads} page loads:\n`);
    console.log("| measure | median | worst |");
    console.log("|---|---|---|");
    console.log(`| first paint after the data arrives (decode + layout + draw + 1 frame) | ${f(result.firstPaintMs.median)} ms | ${f(result.firstPaintMs.max)} ms |`);
    console.log(`| … of which Arrow decode and tree layout | ${f(result.decodeMs.median)} ms | |`);
    console.log(`| zoom re-render (React update + canvas draw), ${zooms.length} zooms | ${f(result.zoomMs.median)} ms | p95 ${f(result.zoomMs.p95)} ms, max ${f(result.zoomMs.max)} ms |`);
    console.log(`| … the first zoom after a page load (cold JIT) | ${f(result.firstZoomMs.median)} ms | ${f(result.firstZoomMs.max)} ms |`);
    console.log(`| … every later zoom | ${f(result.warmZoomMs.median)} ms | p95 ${f(result.warmZoomMs.p95)} ms, max ${f(result.warmZoomMs.max)} ms |`);
    console.log(`\nFrames drawn at the root view: ${result.drawnAtRoot} of ${nodes}.`);
    console.log(`UI bundle (${bundle.files.join(", ")}): ${(bundle.raw / 1024).toFixed(1)} KiB, ${(bundle.gzip / 1024).toFixed(1)} KiB gzip -9.`);
  }
} finally {
  await browser?.close();
  server?.close();
  rmSync(out, { recursive: true, force: true });
}
