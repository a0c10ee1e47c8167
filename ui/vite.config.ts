import { defineConfig } from "vite";
import { resolve } from "node:path";

// No React plugin: esbuild compiles TSX with the automatic runtime, which is all the UI needs.
export default defineConfig({
  esbuild: { jsx: "automatic" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1024,
    rollupOptions: {
      // The benchmark page is built only for `npm run bench` (KILN_UI_BENCH=1): the server ships just the UI.
      input: process.env.KILN_UI_BENCH
        ? { index: resolve(__dirname, "index.html"), bench: resolve(__dirname, "bench.html") }
        : { index: resolve(__dirname, "index.html") },
    },
  },
  server: {
    // `npm run dev` talks to a kiln server on KILN_URL (default http://127.0.0.1:7070).
    proxy: Object.fromEntries(
      ["/parca.", "/api", "/healthz"].map((p) => [p, { target: process.env.KILN_URL ?? "http://127.0.0.1:7070" }]),
    ),
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
