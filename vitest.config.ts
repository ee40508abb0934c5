// One `vitest run` (= `npm test`) runs two projects:
//  - node: every test file, in Node;
//  - browser: the same portable files in headless Debian Chromium, driven by
//    playwright-core (never downloads a browser: the executable is given,
//    /usr/bin/chromium or $CHROMIUM_PATH).
// Files that read the disk through node:fs are named *.node.test.ts and stay Node-only.
import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';

// COOP/COEP make the page cross-origin isolated, so SharedArrayBuffer (and a
// shared WebAssembly.Memory) exists in the browser as it will for threads.
const crossOriginIsolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

const chromium = playwright({
  launchOptions: {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  },
});

// Tests assert no timings; vitest's 5 s default would fail the longer ones
// (1,000 training steps) on a loaded 2-core machine running both projects at once.
const testTimeout = 60_000;
// Hooks load data sets and start servers: the same allowance as a test.
const hookTimeout = testTimeout;

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'node',
          testTimeout,
          hookTimeout,
          include: ['test/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        server: { headers: crossOriginIsolation },
        test: {
          name: 'browser',
          testTimeout,
          hookTimeout,
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.node.test.ts'],
          browser: {
            enabled: true,
            headless: true,
            provider: chromium,
            instances: [{ browser: 'chromium' }],
            // the tests draw nothing: a screenshot of a failure says nothing the assertion does not
            screenshotFailures: false,
          },
        },
      },
    ],
  },
});
