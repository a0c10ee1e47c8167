// The flame graph benchmark (`npm run bench`): builds the UI with its benchmark page (bench.html), serves it on a
// loopback port, and measures in Debian's Chromium, over several page loads, a synthetic 100,000-node profile
// arriving as a FLAMEGRAPH_ARROW record:
//   first paint: from the record's bytes being available to the first frame (decode, layout, draw, one frame),
//   zoom: the synchronous re-render after a zoom (React update, canvas draw, style and layout) for a series of zoom
//     targets, three rounds per page load and one more with a search highlight active; a trace of each page load
//     tells how much of each zoom was the page's main thread on a CPU (the rest: waiting for one, on a busy
//     machine) and which zooms included a garbage collection; then the page allocates garbage and the trace tells what
//     the first scavenges after the load cost.
// Also reports the gzip size of the UI bundle the server ships. Prints Markdown tables; --json for raw numbers.
import { createReadStream, readdirSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
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
const stats = (xs) => ({ count: xs.length, median: median(xs), p95: quantile(xs, 0.95), max: Math.max(...xs) });

/** Reads a trace into per-zoom main-thread CPU time and garbage collection time, from the page's user-timing marks. */
function zoomsInTrace(events) {
  const marks = events.filter((e) => e.name === "kiln-zoom-start" || e.name === "kiln-zoom-end").sort((a, b) => a.ts - b.ts);
  if (marks.length === 0) throw new Error("the trace has no zoom marks");
  const { pid, tid } = marks[0];
  const gcs = events.filter((e) => e.pid === pid && e.tid === tid && e.ph === "X" && (e.name === "MinorGC" || e.name === "MajorGC"));
  const out = [];
  for (let k = 0; k + 1 < marks.length; k += 2) {
    const [a, b] = [marks[k], marks[k + 1]];
    if (a.name !== "kiln-zoom-start" || b.name !== "kiln-zoom-end") throw new Error("unpaired zoom marks in the trace");
    const inside = gcs.filter((e) => e.ts >= a.ts && e.ts + e.dur <= b.ts);
    out.push({ cpuMs: (b.tts - a.tts) / 1000, gcMs: inside.reduce((sum, e) => sum + e.dur, 0) / 1000 });
  }
  return out;
}

/**
 * The scavenges (young-generation collections) on the page's main thread while it allocated garbage after the zooms,
 * each as main-thread CPU time: the first ones after the profile loaded copy and promote whatever the load left.
 */
function scavengesInTrace(events) {
  const [a, b] = ["kiln-garbage-start", "kiln-garbage-end"].map((name) => events.find((e) => e.name === name));
  if (!a || !b) throw new Error("the trace has no garbage marks");
  return events
    .filter((e) => e.pid === a.pid && e.tid === a.tid && e.ph === "X" && e.name === "MinorGC" && e.ts >= a.ts && e.ts <= b.ts)
    .sort((x, y) => x.ts - y.ts)
    .map((e) => ({ ms: e.dur / 1000, cpuMs: (e.tdur ?? e.dur) / 1000, usedBeforeMB: e.args.usedHeapSizeBefore / 1e6, usedAfterMB: e.args.usedHeapSizeAfter / 1e6 }));
}

async function traced(cdp, run) {
  await cdp.send("Tracing.start", {
    traceConfig: { includedCategories: ["blink.user_timing", "devtools.timeline"] },
    transferMode: "ReturnAsStream",
  });
  const value = await run();
  const complete = new Promise((ok) => cdp.once("Tracing.tracingComplete", ok));
  await cdp.send("Tracing.end");
  const { stream } = await complete;
  let text = "";
  for (;;) {
    const chunk = await cdp.send("IO.read", { handle: stream });
    text += chunk.base64Encoded ? Buffer.from(chunk.data, "base64").toString() : chunk.data;
    if (chunk.eof) break;
  }
  await cdp.send("IO.close", { handle: stream });
  const trace = JSON.parse(text);
  return { value, events: Array.isArray(trace) ? trace : trace.traceEvents };
}

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
  const cdp = await page.context().newCDPSession(page);
  const loadBefore = loadavg();
  const runs = [];
  for (let k = 0; k < loads; k++) {
    await page.goto(url);
    await page.waitForFunction(() => window.__bench !== undefined, null, { timeout: 120_000 });
    const { value: zooms, events } = await traced(cdp, () =>
      page.evaluate(() => {
        const out = [];
        const zoom = (node, kind, search) => {
          const ms = window.__benchZoom(node);
          out.push({ node, kind, search, ms, drawMs: window.__bench.drawMs.at(-1), drawn: window.__bench.drawn.at(-1) });
        };
        // Three rounds over the targets, each ending with a reset to the root; then one with a search active.
        for (let round = 0; round < 3; round++) {
          for (const t of window.__benchTargets) zoom(t.node, t.kind, false);
          zoom(0, "root", false);
        }
        window.__benchSearch("Function1");
        for (const t of window.__benchTargets) zoom(t.node, t.kind, true);
        zoom(0, "root", true);
        window.__benchSearch(null);
        performance.mark("kiln-garbage-start");
        window.__benchGarbage();
        performance.mark("kiln-garbage-end");
        return out;
      }),
    );
    const cpu = zoomsInTrace(events);
    const scavenges = scavengesInTrace(events);
    if (cpu.length !== zooms.length) throw new Error(`${cpu.length} zooms in the trace, ${zooms.length} measured`);
    const r = await page.evaluate(() => window.__bench);
    runs.push({ ...r, zooms: zooms.map((z, i) => ({ ...z, ...cpu[i] })), scavenges });
  }
  const loadAfter = loadavg();
  const firstPaint = runs.map((r) => r.firstPaintMs);
  const decode = runs.map((r) => r.decodeMs);
  const plain = runs.flatMap((r) => r.zooms.filter((z) => !z.search));
  const searched = runs.flatMap((r) => r.zooms.filter((z) => z.search));
  // The first zoom after a page load also compiles the zoom path (cold JIT); reported on its own as well.
  const firstZooms = runs.map((r) => r.zooms[0]);
  const byTarget = new Map();
  for (const r of runs) {
    r.zooms.forEach((z, i) => {
      if (z.search) return;
      const n = r.zooms.filter((y) => !y.search).length / 3;
      const key = i % n;
      if (!byTarget.has(key)) byTarget.set(key, { kind: z.kind, node: z.node, drawn: z.drawn, ms: [], cpuMs: [], drawMs: [] });
      const t = byTarget.get(key);
      t.ms.push(z.ms);
      t.cpuMs.push(z.cpuMs);
      t.drawMs.push(z.drawMs);
    });
  }
  const result = {
    nodes,
    recordBytes: runs[0].recordBytes,
    loads,
    chromium: browser.version(),
    loadAverage: { before: loadBefore, after: loadAfter },
    firstPaintMs: { median: median(firstPaint), max: Math.max(...firstPaint) },
    decodeMs: { median: median(decode) },
    zoomMs: stats(plain.map((z) => z.ms)),
    zoomCpuMs: stats(plain.map((z) => z.cpuMs)),
    zoomDrawMs: stats(plain.map((z) => z.drawMs)),
    zoomsWithGc: { count: plain.filter((z) => z.gcMs > 0).length, maxGcMs: Math.max(...plain.map((z) => z.gcMs)) },
    // Zooms (search round included) over one 60 Hz frame, with how much of each the main thread was on a CPU.
    over16Ms: runs.flatMap((r) => r.zooms.filter((z) => z.ms > 16).map((z) => ({ kind: z.kind, search: z.search, ms: z.ms, cpuMs: z.cpuMs, gcMs: z.gcMs }))),
    firstZoomMs: { median: median(firstZooms.map((z) => z.ms)), max: Math.max(...firstZooms.map((z) => z.ms)), cpuMedian: median(firstZooms.map((z) => z.cpuMs)) },
    searchZoomMs: stats(searched.map((z) => z.ms)),
    searchZoomCpuMs: stats(searched.map((z) => z.cpuMs)),
    targets: [...byTarget.values()].map((t) => ({ kind: t.kind, node: t.node, drawn: t.drawn, ms: stats(t.ms), cpuMs: stats(t.cpuMs), drawMs: stats(t.drawMs) })),
    // The first scavenge after each page load, the second, and the median of the later ones as a baseline.
    scavengeCpuMs: {
      first: stats(runs.map((r) => r.scavenges[0]?.cpuMs ?? 0)),
      second: stats(runs.map((r) => r.scavenges[1]?.cpuMs ?? 0)),
      later: stats(runs.flatMap((r) => r.scavenges.slice(2).map((s) => s.cpuMs))),
      perLoad: runs.map((r) => r.scavenges.length),
    },
    drawnAtRoot: runs[0].drawn[0],
    bundle,
  };
  if (json) console.log(JSON.stringify(result, null, 2));
  else {
    const f = (x) => x.toFixed(1);
    const load = (l) => l.map((x) => x.toFixed(1)).join(" ");
    console.log(`Flame graph of ${nodes.toLocaleString("en")} nodes (FLAMEGRAPH_ARROW record ${(result.recordBytes / 1024).toFixed(0)} KiB), Chromium ${result.chromium}, ${loads} page loads, load average ${load(loadBefore)} before and ${load(loadAfter)} after:\n`);
    const row = (what, s) => `| ${what} | ${f(s.median)} ms | p95 ${f(s.p95)} ms, max ${f(s.max)} ms |`;
    console.log("| measure | median | worst |");
    console.log("|---|---|---|");
    console.log(`| first paint after the data arrives (decode + layout + draw + 1 frame) | ${f(result.firstPaintMs.median)} ms | ${f(result.firstPaintMs.max)} ms |`);
    console.log(`| … of which Arrow decode and tree layout | ${f(result.decodeMs.median)} ms | |`);
    console.log(row(`zoom re-render (React update + canvas draw + style and layout), ${result.zoomMs.count} zooms`, result.zoomMs));
    console.log(row("… main thread on CPU during the zoom", result.zoomCpuMs));
    console.log(row("… canvas draw", result.zoomDrawMs));
    console.log(`| … the first zoom after a page load (cold JIT) | ${f(result.firstZoomMs.median)} ms | ${f(result.firstZoomMs.max)} ms |`);
    console.log(row(`zoom with a search active, ${result.searchZoomMs.count} zooms`, result.searchZoomMs));
    console.log(row("… main thread on CPU during the zoom", result.searchZoomCpuMs));
    console.log(`\nZooms that included a garbage collection: ${result.zoomsWithGc.count} of ${result.zoomMs.count} (longest ${f(result.zoomsWithGc.maxGcMs)} ms).`);
    const sc = result.scavengeCpuMs;
    console.log(
      `Scavenges while the page then allocated short-lived garbage (${sc.perLoad.join(", ")} per load), main thread CPU: ` +
        `the first after the load ${f(sc.first.median)} ms median (max ${f(sc.first.max)}), the second ${f(sc.second.median)} ms (max ${f(sc.second.max)}), later ones ${f(sc.later.median)} ms.`,
    );
    const slow = result.over16Ms;
    console.log(
      `Zooms over 16 ms: ${slow.length} of ${result.zoomMs.count + result.searchZoomMs.count}` +
        (slow.length ? `, the main thread on a CPU for ${slow.map((z) => `${f(z.cpuMs)} of ${f(z.ms)}`).join(", ")} ms of them.\n` : ".\n"),
    );
    console.log("| zoom target | frames drawn | median | max | CPU median | CPU max |");
    console.log("|---|---|---|---|---|---|");
    for (const t of result.targets) console.log(`| ${t.kind} | ${t.drawn} | ${f(t.ms.median)} ms | ${f(t.ms.max)} ms | ${f(t.cpuMs.median)} ms | ${f(t.cpuMs.max)} ms |`);
    console.log(`\nFrames drawn at the root view: ${result.drawnAtRoot} of ${nodes}.`);
    console.log(`UI bundle (${bundle.files.join(", ")}): ${(bundle.raw / 1024).toFixed(1)} KiB, ${(bundle.gzip / 1024).toFixed(1)} KiB gzip -9.`);
  }
} finally {
  await browser?.close();
  server?.close();
  rmSync(out, { recursive: true, force: true });
}
