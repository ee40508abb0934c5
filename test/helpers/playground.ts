// The browser playground (web/) as `npm run build:web` makes it, built into a temporary directory from the
// library's dist bundles (`npm run build:ts` first), served with COOP/COEP on 127.0.0.1, and headless Chromium.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, run, serveStatic, type StaticServer } from '../hosts/serve.js';

/** The repository's root. */
export const root = fileURLToPath(new URL('../..', import.meta.url));

/** A built and served playground, and a browser to open it in. */
export interface Playground {
  /** The built page's directory. */
  out: string;
  server: StaticServer;
  browser: Browser;
  /** Closes the browser and the server, and removes the build. */
  close(): Promise<void>;
}

/** Builds the playground (the digits made first), serves it and launches Chromium. */
export async function startPlayground(): Promise<Playground> {
  const out = await mkdtemp(path.join(tmpdir(), 'simdnn-web-'));
  let server: StaticServer | undefined;
  try {
    const digits = await run(process.execPath, [path.join(root, 'web/make-digits.mjs')], { cwd: root, timeoutMs: 120_000 });
    if (digits.code !== 0) throw new Error(`make-digits failed:\n${digits.stderr}`);
    const b = await run(path.join(root, 'node_modules/.bin/vite'), ['build', '--config', 'web/vite.config.ts', '--outDir', out, '--emptyOutDir', '--logLevel', 'warn'], { cwd: root, timeoutMs: 150_000 });
    if (b.code !== 0) throw new Error(`vite build failed:\n${b.stderr}`);
    server = await serveStatic(out);
    const browser = await launchChromium();
    const s = server;
    return {
      out, server, browser,
      close: async () => { await browser.close(); await s.close(); await rm(out, { recursive: true, force: true }); },
    };
  } catch (e) {
    await server?.close();
    await rm(out, { recursive: true, force: true });
    throw e;
  }
}

/** The ids of the page's controls (`selector`) that have no label: none for a page anyone can use. */
export function unlabelledControls(page: Page, selector: string): Promise<string[]> {
  return page.$$eval(selector, (els) => els
    .filter((el) => !((el as HTMLInputElement).labels?.length || el.getAttribute('aria-label') || (el.tagName === 'BUTTON' && el.textContent!.trim())))
    .map((el) => el.id));
}

/** Which of the controls `ids` Tab does not reach from the page's start (a few presses past their count). */
export async function unreachedByTab(page: Page, ids: readonly string[]): Promise<string[]> {
  const reached = new Set<string>();
  await page.focus('body');
  for (let i = 0; i < ids.length + 5; i++) {
    await page.keyboard.press('Tab');
    reached.add(await page.evaluate(() => document.activeElement?.id ?? ''));
  }
  return ids.filter((id) => !reached.has(id));
}
