#!/usr/bin/env node
// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
// test_browser.js - the viewer in headless Chromium against `ember serve` on
// the fixture store: rendering matches the API, zoom, search, range
// selection, diff, hostile names stay text, no request leaves the origin.
// Screenshots go to .output/test-artifacts/.
'use strict';

const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.resolve(__dirname, '..', '..');
const EMBER = path.join(ROOT, '.output', 'ember');
const GEN = path.join(ROOT, '.output', 'web_gen');
const ART = path.join(ROOT, '.output', 'test-artifacts');
const CHROMIUM = '/usr/bin/chromium';
// the fixture's first window (s): 20 minutes ago, inside the hour the viewer shows by default
const T0 = Math.floor((Date.now() / 1000 - 1200) / 60) * 60;
const EVIL = '<img src=x onerror=alert(1)>';
let failed = 0;

function report(name, err) {
  if (!err) return console.log(`PASS ${name}`);
  failed++;
  console.log(`FAIL ${name}: ${String(err && err.message || err).split('\n')[0]}`);
}

function assert(ok, why) {
  if (!ok) throw new Error(why);
}

function startServer(db) {
  return new Promise((resolve, reject) => {
    const p = spawn(EMBER, ['serve', '--db', db, '--listen', '127.0.0.1:0']);
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/port (\d+)/);
      if (m) resolve({ proc: p, port: Number(m[1]) });
    });
    p.on('exit', (code) => reject(new Error(`ember serve exited ${code}`)));
  });
}

async function api(base, q) {
  const r = await fetch(base + q);
  return r.json();
}

// Polls @fn in the page (waitForFunction would need eval, which the CSP forbids).
async function poll(page, fn, arg, timeout = 10000) {
  const end = Date.now() + timeout;
  while (Date.now() < end) {
    if (await page.evaluate(fn, arg)) return;
    await page.waitForTimeout(50);
  }
  throw new Error('timed out waiting for the page');
}

// Waits until the flame graph has drawn data for the current state.
async function settled(page, total) {
  await poll(page, (t) => {
    const s = document.getElementById('status').textContent;
    return window.emberDebug && window.emberDebug().loaded &&
      (t === null ? /samples/.test(s) : s.startsWith(t.toLocaleString() + ' samples'));
  }, total === undefined ? null : total);
}

async function rects(page) {
  return (await page.evaluate(() => window.emberDebug())).rects;
}

async function clickFrame(page, name, opts) {
  const r = (await rects(page)).find((q) => q.name === name);
  assert(r, `frame ${name} not drawn`);
  const box = await page.locator('#flame').boundingBox();
  await page.mouse.click(box.x + r.x + Math.min(r.w / 2, 40), box.y + r.y + 9, opts);
  return r;
}

async function pixel(page, name) {
  return page.evaluate((n) => {
    const r = window.emberDebug().rects.find((q) => q.name === n);
    const c = document.getElementById('flame'), d = window.devicePixelRatio || 1;
    const p = c.getContext('2d').getImageData(Math.round((r.x + 2) * d), Math.round((r.y + 2) * d), 1, 1).data;
    return [p[0], p[1], p[2]];
  }, name);
}

async function tests(page, base) {
  const run = async (name, fn) => {
    try {
      await fn();
      report(name);
    } catch (e) {
      report(name, e);
    }
  };

  await run('browser_renders_api_tree', async () => {
    await page.goto(base + '/');
    await settled(page, 450);
    const d = await api(base, '/api/flamegraph');
    const top = d.tree.c.map((c) => [d.frames[c.f].name, c.v]);
    const drawn = (await rects(page)).filter((r) => r.depth === 1).map((r) => [r.name, r.v]);
    assert(JSON.stringify(top) === JSON.stringify(drawn), `API ${JSON.stringify(top)} drawn ${JSON.stringify(drawn)}`);
    const root = (await rects(page)).find((r) => r.depth === 0);
    const app = (await rects(page)).find((r) => r.name === 'app');
    assert(Math.abs(app.w / root.w - 330 / 450) < 0.01, `app width ${app.w / root.w}`);
    await page.screenshot({ path: path.join(ART, 'web-flame.png'), fullPage: true });
  });

  await run('browser_click_zoom_and_breadcrumb', async () => {
    await clickFrame(page, 'compute');
    const hot = (await rects(page)).find((r) => r.name === 'hot');
    const root = (await rects(page)).find((r) => r.depth === 0);
    assert(Math.abs(hot.w - root.w) < 1, `hot not full width after zoom: ${hot.w} vs ${root.w}`);
    const crumbs = await page.locator('#crumbs button').allTextContents();
    assert(crumbs.join('>') === 'all>app>main>compute', crumbs.join('>'));
    assert(/[?&]z=/.test(page.url()), 'zoom not in URL');
    await page.locator('#crumbs button', { hasText: 'all' }).click();
    const app = (await rects(page)).find((r) => r.name === 'app');
    assert(app.w < root.w * 0.8, 'breadcrumb did not zoom out');
  });

  await run('browser_search_highlights', async () => {
    await page.fill('#search', 'hot');
    const m = await page.locator('#match').textContent();
    assert(m.includes('270 samples matched (60.00%)'), m);
    const col = await pixel(page, 'hot');
    assert(col[0] > 200 && col[1] < 100 && col[2] > 200, `hot not highlighted: ${col}`);
    assert(page.url().includes('q=hot'), 'search not in URL');
    await page.fill('#search', '');
  });

  await run('browser_state_in_url', async () => {
    await page.goto(base + '/?q=query&layout=icicle&z=1');
    await settled(page, 450);
    const m = await page.locator('#match').textContent();
    assert(m.includes('90 samples matched'), m);
    const crumbs = await page.locator('#crumbs button').allTextContents();
    assert(crumbs.join('>') === 'all>db', crumbs.join('>'));
    const r = (await rects(page)).find((q) => q.depth === 0);
    assert(r.y === 0, 'icicle layout not restored');
  });

  await run('browser_timeline_range_selection', async () => {
    await page.goto(base + '/');
    await settled(page, 450);
    await poll(page, () => /top:/.test(document.getElementById('timeline-info').textContent));
    const box = await page.locator('#timeline').boundingBox();
    await page.mouse.move(box.x + box.width * 0.01, box.y + 30);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.3, box.y + 30);
    await page.mouse.move(box.x + box.width * 0.49, box.y + 30);
    await page.mouse.up();
    await settled(page, 195);
    const st = (await page.evaluate(() => window.emberDebug())).state;
    assert(st.from === String(T0) && st.to === String(T0 + 30), `range ${st.from}..${st.to}`);
  });

  await run('browser_diff_colours', async () => {
    await page.goto(`${base}/?diff=1&from=${T0 + 30}&to=${T0 + 60}&base_from=${T0}&base_to=${T0 + 30}`);
    await settled(page, 255);
    const s = await page.locator('#status').textContent();
    assert(s.includes('vs 195'), s);
    const hot = await pixel(page, 'hot'), query = await pixel(page, 'query');
    assert(hot[0] === 255 && hot[2] < 200, `hot (grew) not red: ${hot}`);
    assert(query[2] === 255 && query[0] < 200, `query (shrank) not blue: ${query}`);
    assert(await page.locator('#legend-bar').isVisible(), 'no legend');
    await page.screenshot({ path: path.join(ART, 'web-diff.png'), fullPage: true });
  });

  await run('browser_hostile_names_are_text', async () => {
    await page.goto(base + '/?q=img');
    await settled(page, 450);
    const cells = await page.locator('#fn-table td').allTextContents();
    assert(cells.includes(EVIL), 'hostile name not shown as text in the table');
    assert(await page.locator('img').count() === 0, 'an <img> element was created');
    await clickFrame(page, 'evil');
    const crumbs = await page.locator('#crumbs button').allTextContents();
    assert(crumbs.includes('evil'), crumbs.join('>'));
    await page.locator('#fn-table td', { hasText: 'onerror' }).first().click();
    const title = await page.locator('#sandwich-title').textContent();
    assert(title.startsWith(EVIL), title);
    await page.screenshot({ path: path.join(ART, 'web-sandwich.png'), fullPage: true });
  });
}

async function main() {
  fs.mkdirSync(ART, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ember-web-'));
  const db = path.join(tmp, 'fixture.db');
  execFileSync(GEN, ['fixture', db, String(T0 * 1000)]);
  const srv = await startServer(db);
  const base = `http://127.0.0.1:${srv.port}`;
  const { chromium } = require('playwright-core');
  const ctx = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
    executablePath: CHROMIUM, headless: true, viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = ctx.pages()[0] || await ctx.newPage();
  const outside = [], dialogs = [], errors = [];
  page.on('request', (r) => { if (!r.url().startsWith(base + '/')) outside.push(r.url()); });
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); });
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await tests(page, base);
    report('browser_no_script_from_data', dialogs.length || errors.length ?
      `dialogs ${JSON.stringify(dialogs)} errors ${JSON.stringify(errors)}` : null);
    report('browser_no_request_outside_origin', outside.length ? outside.join(' ') : null);
  } finally {
    await ctx.close();
    srv.proc.kill('SIGTERM');
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.log(`FAIL browser: ${e.message.split('\n')[0]}`);
  process.exit(1);
});
