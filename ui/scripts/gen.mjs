// Generates TypeScript API types from ../proto into src/gen (not committed) with buf + protoc-gen-es.
// buf compiles one directory, so the repository's protos and the local google/api stand-in are
// staged together first. Skips work when the generated files are newer than every proto.
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const ui = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const sources = [resolve(ui, "../proto"), resolve(ui, "proto-deps")];
const out = join(ui, "src/gen");
const stamp = join(out, ".stamp");

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

const inputs = Math.max(...sources.map(newest), statSync(fileURLToPath(import.meta.url)).mtimeMs);
if (existsSync(stamp) && statSync(stamp).mtimeMs >= inputs) process.exit(0);

const staging = join(ui, "node_modules/.kiln-proto");
rmSync(staging, { recursive: true, force: true });
for (const s of sources) cpSync(s, staging, { recursive: true });
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const template = JSON.stringify({
  version: "v2",
  plugins: [{ local: join(ui, "node_modules/.bin/protoc-gen-es"), out, opt: ["target=ts", "import_extension=none"] }],
});
execFileSync(join(ui, "node_modules/.bin/buf"), ["generate", staging, "--template", template], { stdio: "inherit", cwd: ui });
writeFileSync(stamp, "");
