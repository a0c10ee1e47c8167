// Test harness: a real `kiln server` on a free loopback port, the `kiln` CLI, the Go workload from
// tests/workloads/goburn, and Debian's Chromium through playwright-core.
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
export const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const artifacts = resolve(repo, "ui/e2e/artifacts");

/** The built CLI: KILN_DLL, or the Release build test.sh makes. */
export function kilnDll(): string {
  const dll = process.env.KILN_DLL ?? join(repo, "src/Kiln.Cli/bin/Release/net10.0/kiln.dll");
  if (!existsSync(dll)) throw new Error(`${dll} does not exist: build Kiln first (dotnet build Kiln.slnx -c Release) or set KILN_DLL`);
  if (!existsSync(join(dirname(dll), "ui/index.html"))) throw new Error(`${dirname(dll)}/ui/index.html does not exist: the build did not include the web UI`);
  return dll;
}

export { chromiumPath, launchChromium } from "./chromium.mjs";

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

async function waitFor<T>(what: string, deadlineMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const dotnetEnv = { ...process.env, DOTNET_NOLOGO: "1", DOTNET_CLI_TELEMETRY_OPTOUT: "1" };

export class KilnServer {
  private output = "";
  private constructor(
    private readonly child: ChildProcess,
    readonly address: string,
    readonly dataDir: string,
  ) {
    child.stdout!.on("data", (d) => (this.output += d));
    child.stderr!.on("data", (d) => (this.output += d));
  }

  /** Starts `kiln server` on a free loopback port with a fresh data directory and waits for /healthz. */
  static async start(): Promise<KilnServer> {
    const dataDir = tempDir("kiln-ui-e2e-data-");
    const port = await freePort();
    const child = spawn("dotnet", [kilnDll(), "server", "--http-address", `127.0.0.1:${port}`, "--data-dir", dataDir], {
      env: dotnetEnv,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const server = new KilnServer(child, `http://127.0.0.1:${port}`, dataDir);
    const exited = new Promise<never>((_, fail) => child.once("exit", (code) => fail(new Error(`kiln server exited with ${code}:\n${server.output}`))));
    await Promise.race([
      exited,
      waitFor("kiln server /healthz", 90_000, async () => ((await fetch(`${server.address}/healthz`)).ok ? true : undefined)),
    ]);
    exited.catch(() => {});
    return server;
  }

  get log(): string {
    return this.output;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const gone = new Promise((r) => this.child.once("exit", r));
      this.child.kill("SIGTERM");
      await gone;
    }
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** Runs `dotnet kiln.dll ARGS`; throws with its output when it fails. */
export async function kiln(...args: string[]): Promise<string> {
  const r = await run("dotnet", [kilnDll(), ...args], { env: dotnetEnv });
  return r.stdout;
}

export function goPath(): string | null {
  for (const dir of (process.env.PATH ?? "").split(":")) if (dir && existsSync(join(dir, "go"))) return join(dir, "go");
  return null;
}

/** Offline Go builds: the workloads use the standard library only, and there is no module proxy. */
export const goEnv = {
  ...process.env,
  GOPROXY: "off",
  GOFLAGS: "-mod=mod",
  GOSUMDB: "off",
  GOCACHE: join(tmpdir(), "kiln-tests-gocache"),
  GOTOOLCHAIN: "local",
};

/**
 * Builds and runs tests/workloads/goburn (hotA does twice hotB's work), takes a CPU profile of `seconds` from its
 * net/http/pprof endpoint and writes it to `out`. Five seconds at Go's 100 Hz give ~500 samples: the UI test's bounds on
 * the hotA / hotB ratio (1.4–2.8 around the true 2) are then 3 to 4 standard deviations away; at 3 s a run gave 2.9.
 */
export async function profileGoburn(workDir: string, out: string, seconds = 5): Promise<void> {
  const go = goPath()!;
  const binary = join(workDir, "goburn");
  await run(go, ["build", "-o", binary, "."], { cwd: join(repo, "tests/workloads/goburn"), env: goEnv });
  const child = spawn(binary, ["-port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
  try {
    const address = await new Promise<string>((ok, fail) => {
      let text = "";
      child.stdout!.on("data", (d) => {
        text += d;
        const m = /listening on (\S+)/.exec(text);
        if (m) ok(m[1]);
      });
      child.once("exit", (code) => fail(new Error(`goburn exited with ${code}`)));
    });
    const r = await fetch(`http://${address}/debug/pprof/profile?seconds=${seconds}`);
    if (!r.ok) throw new Error(`goburn profile: HTTP ${r.status}`);
    writeFileSync(out, new Uint8Array(await r.arrayBuffer()));
  } finally {
    child.kill("SIGKILL");
  }
}

/** `go tool pprof -top` of a file, as text. */
export async function pprofTop(file: string): Promise<string> {
  const r = await run(goPath()!, ["tool", "pprof", "-top", "-symbolize=none", "-nodecount=50", file], { env: goEnv });
  return r.stdout;
}
