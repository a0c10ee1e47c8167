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
      input: { index: resolve(__dirname, "index.html"), bench: resolve(__dirname, "bench.html") },
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
