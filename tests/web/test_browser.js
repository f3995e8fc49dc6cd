#!/usr/bin/env node
// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
// test_browser.js - the viewer in headless Chromium against `ember serve` on
// the fixture store: rendering matches the API, zoom, search, range
// selection, diff, hostile names stay text, no request leaves the origin,
// time presets, relative times, the diff table, live refresh, JIT colour;
// and the exported SVG opened from disk: click-to-zoom, search, no request.
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

async function run(name, fn) {
  try {
    await fn();
    report(name);
  } catch (e) {
    report(name, e);
  }
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

const iso = (sec) => new Date(sec * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
// as the viewer shows a time: 2026-11-29 21:36:00 UTC
const utc = (sec) => iso(sec).replace('T', ' ').replace('Z', ' UTC');

// The first date "YYYY-MM-DD HH:MM:SS UTC" in @text, in ms.
function shownDate(text) {
  const m = /(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d) UTC/.exec(text);
  assert(m, `no date in ${JSON.stringify(text)}`);
  return Date.parse(`${m[1]}T${m[2]}Z`);
}

// The function table as {name: [cells]} (first row per name) and its header.
async function fnTable(page) {
  return page.evaluate(() => {
    const rows = {};
    for (const tr of document.querySelectorAll('#fn-table tbody tr')) {
      const c = [...tr.cells].map((td) => td.textContent);
      if (!(c[0] in rows)) rows[c[0]] = c;
    }
    const head = [...document.querySelectorAll('#fn-table th')].map((th) => th.textContent);
    const first = document.querySelector('#fn-table tbody tr');
    return { rows, head, first: first ? [...first.cells].map((td) => td.textContent) : [] };
  });
}

async function tests(page, base) {

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
    assert(st.from === iso(T0) && st.to === iso(T0 + 30), `range ${st.from}..${st.to}`);
    const info = await page.locator('#range-info').textContent();
    assert(info.includes(`${utc(T0)} to ${utc(T0 + 30)} (30 s)`), info);
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

  await run('browser_presets', async () => {
    await page.goto(base + '/');
    await settled(page, 450);
    await page.locator('#presets button', { hasText: /^1h$/ }).click();
    await settled(page, 450);	// the fixture is 20 minutes old
    const st = (await page.evaluate(() => window.emberDebug())).state;
    assert(st.from === '-1h' && st.to === 'now', `1h preset set ${st.from}..${st.to}`);
    assert(page.url().includes('from=-1h'), page.url());
    assert(await page.inputValue('#f-from') === '-1h', 'from field not -1h');
    const info = await page.locator('#range-info').textContent();
    const ago = Date.now() - shownDate(info);
    assert(Math.abs(ago - 3600e3) < 120e3, `range starts ${ago / 1000} s ago: ${info}`);
    assert(info.includes('(60 min)'), info);
    assert(await page.locator('#presets button.active').textContent() === '1h', 'no active preset');
    await page.locator('#presets button', { hasText: /^7d$/ }).click();
    await settled(page, 450);
    assert((await page.evaluate(() => window.emberDebug())).state.from === '-7d', 'preset 7d');
    // typed RFC 3339 into the range fields: the fixture's first half
    await page.fill('#f-from', iso(T0));
    await page.fill('#f-to', iso(T0 + 30));
    await page.locator('#filters button[type=submit]').click();
    await settled(page, 195);
  });

  await run('browser_diff_relative_baseline_and_table', async () => {
    await page.goto(`${base}/?diff=1&from=${iso(T0 + 30)}&to=${iso(T0 + 60)}`);
    await settled(page);
    await page.fill('#b-from', '-5000d');
    await page.fill('#b-to', iso(T0 + 30));
    await page.locator('#diff-form button[type=submit]').click();
    await settled(page, 255);
    const s = await page.locator('#status').textContent();
    assert(s.includes('vs 195'), s);
    const bi = await page.locator('#base-info').textContent();
    const ago = Date.now() - shownDate(bi);
    assert(Math.abs(ago - 5000 * 86400e3) < 120e3, `baseline starts ${ago / 86400e3} d ago: ${bi}`);
    assert(bi.includes(`to ${utc(T0 + 30)}`), bi);
    let t = await fnTable(page);
    assert(t.head.join('|') === 'function|module|self (baseline)|self|total (baseline)|total|change|change %',
      t.head.join('|'));
    const hot = t.rows.hot, query = t.rows.query;
    assert(hot && hot.slice(2).join('|') === '90 (46.15%)|180 (70.59%)|90 (46.15%)|180 (70.59%)|+90|+100.00%',
      `hot row ${hot}`);
    assert(query && query.slice(2).join('|') === '60 (30.77%)|30 (11.76%)|60 (30.77%)|30 (11.76%)|-30|-50.00%',
      `query row ${query}`);
    assert(t.first[6] === '+90', `sorted by change, first row ${t.first}`);
    await page.locator('#fn-table th', { hasText: 'change %' }).click();
    t = await fnTable(page);
    assert(t.first[7] === '+100.00%', `change % descending, first row ${t.first}`);
    await page.locator('#fn-table th', { hasText: 'change %' }).click();
    t = await fnTable(page);
    assert(t.first[7] === '-50.00%', `change % ascending, first row ${t.first}`);
    assert(page.url().includes('sort=rel%3Aasc') || page.url().includes('sort=rel:asc'), page.url());
    await page.screenshot({ path: path.join(ART, 'web-diff-table.png'), fullPage: true });
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

// Live mode on a store that gets a new window while the page is open.
async function liveTests(ctx, tmp) {
  const db = path.join(tmp, 'live.db');
  execFileSync(GEN, ['window', db, String(Date.now() - 20000)]);
  const srv = await startServer(db);
  const base = `http://127.0.0.1:${srv.port}`;
  const page = await ctx.newPage();
  try {
    await run('browser_live_refresh', async () => {
      await page.goto(base + '/?from=-1h&to=now&live=1');
      await settled(page, 72);
      const d = await page.evaluate(() => window.emberDebug());
      assert(d.live && await page.locator('#o-live').isChecked(), 'live mode is off');
      execFileSync(GEN, ['window', db, String(Date.now() - 5000)]);
      await settled(page, 144);	// no reload: the next refresh brings the new window
      const last0 = d.timeline && d.timeline.last;
      await poll(page, (l) => {
        const t = window.emberDebug().timeline;
        return t && t.last > l && t.total === 144;
      }, last0);
      await page.locator('#o-live').uncheck();
      assert(!(await page.evaluate(() => window.emberDebug())).live, 'live mode did not stop');
    });
    await run('browser_jit_colour', async () => {
      const r = (await rects(page)).find((q) => q.kind === 'jit');
      assert(r && r.name === 'LazyCompile:*tick', 'no jit frame drawn');
      const jit = await pixel(page, r.name), user = await pixel(page, 'hot'), k = await pixel(page, 'vfs_read');
      const far = (a, b) => Math.abs(a[0] - b[0]) + Math.abs(a[1] - b[1]) + Math.abs(a[2] - b[2]) > 60;
      assert(far(jit, user) && far(jit, k), `jit ${jit} vs user ${user} kernel ${k}`);
      assert(jit[0] > jit[1] && jit[2] > jit[1], `jit colour ${jit} is not the jit hue`);
    });
  } finally {
    await page.close();
    srv.proc.kill('SIGTERM');
  }
}

// `ember export --format html` (what `record -o x.html` writes) opened from disk.
async function htmlTests(ctx, db, tmp) {
  const file = path.join(tmp, 'flame.html');
  execFileSync(EMBER, ['export', '--db', db, '--format', 'html', '--from', '0', '-o', file]);
  const page = await ctx.newPage();
  const outside = [], errors = [];
  page.on('request', (r) => { if (r.url() !== 'file://' + file) outside.push(r.url()); });
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await run('html_export_is_the_viewer', async () => {
      await page.goto('file://' + file);
      await settled(page, 450);
      await clickFrame(page, 'compute');
      const hot = (await rects(page)).find((r) => r.name === 'hot');
      const root = (await rects(page)).find((r) => r.depth === 0);
      assert(Math.abs(hot.w - root.w) < 1, 'click did not zoom in the exported page');
      assert(!outside.length && !errors.length, `requests ${outside} errors ${errors}`);
    });
  } finally {
    await page.close();
  }
}

// The interactive SVG of `ember export --format svg`, opened as a file:// page.
async function svgTests(ctx, db, tmp) {
  const file = path.join(tmp, 'flame.svg');
  execFileSync(EMBER, ['export', '--db', db, '--format', 'svg', '--from', '0', '-o', file]);
  const url = 'file://' + file;
  const page = await ctx.newPage();
  const requests = [], errors = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('pageerror', (e) => errors.push(e.message));
  const frame = (name) => page.evaluate((n) => {
    const g = [...document.querySelectorAll('#frames > g')].find((q) => q.getAttribute('data-n') === n);
    const r = g.querySelector('rect');
    return { w: parseFloat(r.getAttribute('width')), x: parseFloat(r.getAttribute('x')),
      shown: g.style.display !== 'none', fill: r.getAttribute('fill'),
      text: (g.querySelector('text') || {}).textContent || '' };
  }, name);
  try {
    await page.goto(url);
    await run('svg_click_zooms', async () => {
      assert((await frame('compute')).w === 720, `compute is ${(await frame('compute')).w} px before zoom`);
      const r = page.locator('#frames > g[data-n="compute"] rect');
      await r.click();
      const c = await frame('compute'), hot = await frame('hot'), db = await frame('db');
      assert(c.x === 0 && c.w === 1200, `compute after click: x=${c.x} w=${c.w}`);
      assert(hot.w === 1200, `hot (all of compute) is ${hot.w} px`);
      assert(!db.shown, 'db (beside compute) still shown when zoomed');
      assert(await page.locator('#reset').getAttribute('visibility') === 'visible', 'no Reset Zoom');
      await page.screenshot({ path: path.join(ART, 'svg-zoomed.png') });
      await page.locator('#reset').click();
      const back = await frame('compute');
      assert(back.w === 720 && (await frame('db')).shown, `reset: compute ${back.w} px`);
    });
    await run('svg_search_highlights', async () => {
      page.once('dialog', (d) => d.accept('^hot$'));
      await page.locator('#search').click();
      const hot = await frame('hot'), main = await frame('main');
      assert(hot.fill === 'rgb(230,0,230)', `hot not highlighted: ${hot.fill}`);
      assert(main.fill !== 'rgb(230,0,230)', 'main highlighted though it does not match');
      const m = await page.locator('#matched').textContent();
      assert(m.includes('60.00%') && m.includes('270 samples'), `matched: ${m}`);
      await page.screenshot({ path: path.join(ART, 'svg-search.png') });
      await page.locator('#search').click();
      assert((await frame('hot')).fill !== 'rgb(230,0,230)', 'Reset Search left the highlight');
    });
    await run('svg_search_from_url', async () => {
      await page.goto(url + '?s=query');
      const m = await page.locator('#matched').textContent();
      assert(m.includes('20.00%'), `?s=query matched: ${m}`);
    });
    const outside = requests.filter((u) => !u.startsWith(url));
    report('svg_no_request_leaves_the_file', outside.length || errors.length ?
      `requests ${JSON.stringify(outside)} errors ${JSON.stringify(errors)}` : null);
  } finally {
    await page.close();
  }
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
    await liveTests(ctx, tmp);
    await htmlTests(ctx, db, tmp);
    await svgTests(ctx, db, tmp);
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
