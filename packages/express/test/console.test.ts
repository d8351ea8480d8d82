import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type AdminFixture, adminOptions, createAdminFixture } from '@authcache/conformance';
import express from 'express';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** The page's `document`, as far as these tests read it (the test files compile without DOM types). */
interface PageDocument {
  cookie: string;
  documentElement: { scrollWidth: number; clientWidth: number };
}

import { adminRouter, patAuth } from '../src/index.js';

// The console in real headless Chromium: log in with an admin token, watch the counters,
// invalidate one subject and see the counter move and that subject's next request reach the
// store; a POST without the CSRF token is refused; a non-admin gets 403; the strict CSP holds.

let fixture: AdminFixture;
let server: Server;
let origin: string;
let browser: Browser;

beforeAll(async () => {
  fixture = await createAdminFixture();
  const app = express();
  app.use('/admin', adminRouter({ ...adminOptions(fixture, false), instanceId: 'console-test' }));
  app.get('/api/me', patAuth({ auth: fixture.auth }), (req, res) => {
    res.json({ subject: req.auth?.subject });
  });
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((done) => {
    server?.closeAllConnections();
    server?.close(() => done());
  });
  await fixture?.close();
});

/** A page whose console errors and CSP violations are collected. */
async function open(viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (message) => {
    const text = message.text();
    if (message.type() === 'error' || /Content Security Policy/i.test(text)) {
      // A refused request (the 401 before login, the 403s asked for) is logged as a failed
      // resource load; anything else is a problem.
      if (!/Failed to load resource: the server responded with a status of (401|403)/.test(text)) {
        problems.push(text);
      }
    }
  });
  page.on('pageerror', (error) => problems.push(String(error)));
  await page.goto(`${origin}/admin/`);
  return { context, page, problems };
}

async function logIn(page: Page, token: string) {
  await page.locator('#token').fill(token);
  await page.locator('#login-form button[type=submit]').click();
}

const counter = (page: Page, key: string) => page.locator(`#counters dd[data-key="${key}"]`);

describe('the admin console in Chromium', () => {
  it('logs in, shows counters, invalidates a subject whose next request goes to the store', async () => {
    const { context, page, problems } = await open();
    await expect.poll(() => page.locator('#login').isVisible()).toBe(true);
    await logIn(page, fixture.tokens.admin.token);
    await expect.poll(() => page.locator('#console').isVisible(), { timeout: 10_000 }).toBe(true);
    expect(await page.locator('#who').textContent()).toContain('admin-1');
    await expect.poll(() => counter(page, 'invalidationsByScope.subject').textContent()).toBe('0');
    // The token itself never stays in the page.
    expect(await page.locator('#token').inputValue()).toBe('');

    // Warm the victim's tokens through the app, then watch the live counters pick the hits up.
    for (const { token } of fixture.tokens.victim) {
      const res = await fetch(`${origin}/api/me`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.status).toBe(200);
    }
    const hitsBefore = Number(await counter(page, 'hits').textContent());
    for (const { token } of fixture.tokens.victim) {
      await fetch(`${origin}/api/me`, { headers: { authorization: `Bearer ${token}` } });
    }
    await expect
      .poll(async () => Number(await counter(page, 'hits').textContent()), { timeout: 10_000 })
      .toBeGreaterThanOrEqual(hitsBefore + 2);

    await page.locator('#scope').selectOption('subject');
    await page.locator('#subject').fill('victim');
    await page.locator('#invalidate-form button[type=submit]').click();
    await expect
      .poll(() => page.locator('#result').textContent(), { timeout: 10_000 })
      .toContain('Invalidated subject: 2 dropped here');
    await expect.poll(() => counter(page, 'invalidationsByScope.subject').textContent()).toBe('1');
    await expect
      .poll(() => page.locator('#audit tbody tr').first().textContent())
      .toContain('subject=victim');

    const queries = fixture.auth.stats().storeQueries;
    const res = await fetch(`${origin}/api/me`, {
      headers: { authorization: `Bearer ${fixture.tokens.victim[0]!.token}` },
    });
    expect(res.status).toBe(200);
    expect(fixture.auth.stats().storeQueries).toBe(queries + 1);

    // `all` needs INVALIDATE typed out.
    await page.locator('#scope').selectOption('all');
    await page.locator('#confirm').fill('yes');
    await page.locator('#invalidate-form button[type=submit]').click();
    await expect
      .poll(() => page.locator('#result').textContent())
      .toBe('Type INVALIDATE to confirm.');
    expect(fixture.auth.stats().invalidationsByScope.all).toBe(0);

    // The session cookie alone (no CSRF header) cannot invalidate.
    const status = await page.evaluate(async () => {
      const answer = await fetch('/admin/invalidate', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ scope: 'subject', subject: 'victim' }),
      });
      return answer.status;
    });
    expect(status).toBe(403);
    expect(fixture.auth.stats().invalidationsByScope.subject).toBe(1);
    // The session cookie is out of the script's reach.
    expect(
      await page.evaluate(
        () => (globalThis as unknown as { document: PageDocument }).document.cookie,
      ),
    ).toBe('');
    expect(problems).toEqual([]);
    await context.close();
  });

  it('a non-admin token is refused with 403, on a phone-sized screen without overflow', async () => {
    const { context, page, problems } = await open({ width: 375, height: 740 });
    await expect.poll(() => page.locator('#login').isVisible()).toBe(true);
    const answer = page.waitForResponse(
      (r) => r.url().endsWith('/admin/session') && r.request().method() === 'POST',
    );
    await logIn(page, fixture.tokens.user.token);
    expect((await answer).status()).toBe(403);
    await expect.poll(() => page.locator('#login-result').textContent()).toContain('403');
    expect(await page.locator('#console').isVisible()).toBe(false);
    const overflow = await page.evaluate(() => {
      const { documentElement } = (globalThis as unknown as { document: PageDocument }).document;
      return documentElement.scrollWidth - documentElement.clientWidth;
    });
    expect(overflow).toBeLessThanOrEqual(0);
    expect(problems).toEqual([]);
    await context.close();
  });
});
