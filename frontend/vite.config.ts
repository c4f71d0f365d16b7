/// <reference types="vitest/config" />
import { fileURLToPath, URL } from 'node:url';
import react from '@vitejs/plugin-react';
import tailwindcss from '@tailwindcss/vite';
import { defineConfig } from 'vite';

// The daemon to develop against (`npm run dev` proxies /api, including the WebSocket).
const target = process.env.MCP_MANAGER_URL ?? 'http://127.0.0.1:7071';

export default defineConfig({
  plugins: [react(), tailwindcss()],
  resolve: { alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) } },
  server: {
    proxy: {
      // changeOrigin rewrites Host to the daemon's loopback address; the daemon also checks
      // Origin, which the dev server's own localhost origin satisfies.
      '/api': { target, changeOrigin: true, ws: true },
    },
  },
  build: { target: 'es2022', sourcemap: false, chunkSizeWarningLimit: 400 },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
  },
});
