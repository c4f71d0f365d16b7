// What the small browser scripts share: Debian's chromium through playwright-core (no
// browser download), and a failure that names the script.
import { chromium } from 'playwright-core';

/** Headless chromium from CHROMIUM_PATH (default /usr/bin/chromium). */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-dev-shm-usage'],
  });
}

/** A `fail(msg)` that prints `NAME TEST FAILED: msg` and exits 1. */
export function failer(name) {
  return (msg) => {
    console.error(`\n${name} TEST FAILED: ${msg}`);
    process.exit(1);
  };
}
