// Debian's Chromium through playwright-core, shared by the end-to-end tests and the benchmark.
import { existsSync } from "node:fs";
import { chromium } from "playwright-core";

export const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";

/**
 * Launches the system Chromium (never a downloaded one) with the flags that work on the CI machines;
 * playwright gives it a fresh profile directory of its own.
 */
export async function launchChromium() {
  if (!existsSync(chromiumPath)) throw new Error(`${chromiumPath} does not exist: apt-get install chromium (or set CHROMIUM)`);
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}
