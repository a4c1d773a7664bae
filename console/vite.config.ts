import { defineConfig } from "vite";

// Built into the Python package: the platform serves it at /console (raylane/serve/console.py).
// No framework plugin: esbuild compiles Preact's JSX directly, which keeps the install to
// three packages (preact, vite, typescript).
export default defineConfig({
  base: "/console/",
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    outDir: "../raylane/serve/console_dist",
    emptyOutDir: true,
    target: "es2020",
    // Everything in files: the CSP forbids inline script and style, and data: URLs for scripts.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
});
