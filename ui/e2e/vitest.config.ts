import { defineConfig } from "vitest/config";

// End-to-end tests: a real `kiln server` child process and Debian's Chromium driven by playwright-core.
// One file at a time: they share the machine's two cores with the server and the browser.
export default defineConfig({
  esbuild: { jsx: "automatic" },
  test: {
    root: __dirname,
    include: ["**/*.e2e.ts"],
    environment: "node",
    fileParallelism: false,
    // Readiness, not speed: a cold `dotnet kiln.dll` and a Go build on a busy 2-core machine.
    testTimeout: 120_000,
    hookTimeout: 240_000,
    expect: { poll: { timeout: 20_000 } },
  },
});
