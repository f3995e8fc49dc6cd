// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
// app.js - the viewer's state (all of it in the URL, so a link reproduces a
// view), fetching from the API (or the data embedded by `ember export
// --format html`), and wiring the views together.  Times are passed to the
// server as typed (RFC 3339, Unix seconds, -15m, now: the CLI's syntax) and
// shown back as the dates the server resolved them to.
'use strict';

(function () {
  const Ember = window.Ember;
  const $ = (id) => document.getElementById(id);
  const KEYS = ['from', 'to', 'comm', 'pid', 'kind', 'frame', 'q', 'z', 'layout', 'palette',
    'diff', 'base_from', 'base_to', 'base_comm', 'base_pid', 'tab', 'fn', 'sort', 'live'];
  const DEFAULT_WINDOW_S = 10;	// the agent's default --window
  const embedded = $('ember-data');
  const state = {};
  let model = null, table = [], sandwich = null, range = null, liveTimer = null,
    windowS = DEFAULT_WINDOW_S;

  // RFC 3339 in UTC, whole seconds: what the range fields get from the timeline.
  const rfc3339 = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const human = (ms) => new Date(ms).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, ' UTC');

  function span(ms) {
    const s = Math.round(ms / 1000);
    if (s < 120) return `${s} s`;
    if (s < 7200) return `${Math.round(s / 60)} min`;
    if (s < 172800) return `${(s / 3600).toFixed(1).replace(/\.0$/, '')} h`;
    return `${(s / 86400).toFixed(1).replace(/\.0$/, '')} d`;
  }

  const rangeText = (a, b) => `${human(a)} to ${human(b)} (${span(b - a)})`;

  function readUrl() {
    const p = new URLSearchParams(location.search);
    for (const k of KEYS) state[k] = p.get(k) || '';
    if (p.has('token')) writeUrl();	// the server set a cookie; keep the secret out of links
  }

  function writeUrl() {
    if (embedded) return;
    const p = new URLSearchParams();
    for (const k of KEYS) if (state[k]) p.set(k, state[k]);
    const s = p.toString();
    history.replaceState(null, '', s ? '?' + s : location.pathname);
  }

  function setStatus(msg, error) {
    const el = $('status');
    el.textContent = msg;
    el.className = error ? 'muted error' : 'muted';
  }

  async function getJson(path, params) {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== '' && v !== undefined) p.set(k, v);
    const r = await fetch(path + '?' + p.toString(), { credentials: 'same-origin' });
    const body = await r.json().catch(() => ({ error: 'bad answer from the server' }));
    if (!r.ok) throw new Error(body.error || r.statusText);
    return body;
  }

  function filterParams(prefix) {
    const g = (k) => state[prefix + k];
    return { from: g('from'), to: g('to'), comm: g('comm'), pid: g('pid') };
  }

  const flame = new Ember.FlameView($('flame'), {
    onClick: (n, e) => (e.shiftKey ? showSandwich(Ember.frameKey(n.frame)) : zoomTo(n)),
    onHover: (n, e) => tooltip(n, e),
  });
  const callers = new Ember.FlameView($('callers'), { onHover: (n, e) => tooltip(n, e, true) });
  const callees = new Ember.FlameView($('callees'), { icicle: true,
    onHover: (n, e) => tooltip(n, e, true) });
  const timeline = new Ember.Timeline($('timeline'), $('timeline-info'), (a, b) => {
    state.from = a === null ? '' : rfc3339(Math.floor(a / 1000) * 1000);
    state.to = b === null ? '' : rfc3339(Math.ceil(b / 1000) * 1000);
    state.z = '';
    syncForm();
    loadFlame();
  });

  async function loadFlame() {
    writeUrl();
    setStatus('loading...');
    try {
      const base = { ...filterParams(''), kind: state.kind, frame: state.frame };
      let data;
      if (state.diff) {
        const b = filterParams('base_');
        for (const k of Object.keys(b)) base['base_' + k] = b[k];
        data = await getJson('api/diff', base);
      } else {
        data = await getJson('api/flamegraph', base);
      }
      showModel(data);
    } catch (err) {
      setStatus('error: ' + err.message, true);
    }
  }

  function showModel(data) {
    range = data.to > data.from ? [data.from, data.to] : null;
    $('range-info').textContent = range ? 'range: ' + rangeText(data.from, data.to) : '';
    $('base-info').textContent = data.base_to > data.base_from ?
      'baseline: ' + rangeText(data.base_from, data.base_to) : '';
    model = Ember.buildModel(data);
    flame.setModel(model);
    flame.zoom = Ember.nodeAt(model, state.z);
    table = Ember.functionTable(model);
    let msg = `${model.total.toLocaleString()} samples`;
    if (model.diff) msg += ` vs ${model.baseTotal.toLocaleString()} in the baseline ` +
      '(shares compared, so different totals are normalised)';
    if (data.pruned) msg += ` - ${data.pruned.toLocaleString()} small nodes merged into [other]`;
    setStatus(msg);
    $('legend-note').textContent = model.diff ? 'colour = change of each frame\'s share of samples' : '';
    render();
    if (state.fn) showSandwich(state.fn);
  }

  async function loadTimeline() {
    if (embedded) return;
    try {
      const d = await getJson('api/timeline', { comm: state.comm, pid: state.pid, buckets: 120 });
      if (d.window > 0) windowS = Math.max(1, Math.round(d.window / 1000));
      timeline.setData(d, selection());
    } catch (err) {
      $('timeline-info').textContent = 'timeline: ' + err.message;
    }
  }

  // The range the server resolved the last request to, when one is chosen.
  function selection() {
    return (state.from || state.to) && range ? range : null;
  }

  // Live mode: the range (relative ones move with the clock) again every window.
  function scheduleLive() {
    clearInterval(liveTimer);
    liveTimer = null;
    $('o-live').checked = !!state.live;
    if (!state.live || embedded) return;
    const s = Number(state.live);
    liveTimer = setInterval(() => {
      loadFlame();
      loadTimeline();
    }, (s > 0 ? s : windowS) * 1000);
  }

  function render() {
    flame.icicle = state.layout === 'icicle';
    for (const v of [flame, callers, callees]) {
      v.palette = state.palette || 'kind';
      v.search = state.q.toLowerCase();
    }
    flame.draw();
    renderCrumbs();
    renderMatch();
    renderTable();
    if (sandwich) {
      callers.draw();
      callees.draw();
    }
    timeline.sel = selection();
    timeline.draw();
  }

  function zoomTo(n) {
    flame.zoom = n;
    state.z = Ember.pathOf(n);
    writeUrl();
    render();
  }

  function renderCrumbs() {
    const box = $('crumbs');
    box.textContent = '';
    if (!model) return;
    const path = [];
    for (let n = flame.zoom; n; n = n.parent) path.unshift(n);
    for (const n of path) {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = n.frame.name;
      b.title = n.frame.name;
      b.addEventListener('click', () => zoomTo(n));
      box.appendChild(b);
    }
  }

  function renderMatch() {
    const m = flame.matchedSamples();
    $('match').textContent = state.q && model ?
      `${m.toLocaleString()} samples matched (${pct(m, model.total)})` : '';
  }

  function pct(v, total) {
    return total ? (100 * v / total).toFixed(2) + '%' : '0%';
  }

  const COLUMNS = [['name', 'function'], ['module', 'module'], ['self', 'self'],
    ['total', 'total']];
  const DIFF_COLUMNS = [['name', 'function'], ['module', 'module'], ['bself', 'self (baseline)'],
    ['self', 'self'], ['btotal', 'total (baseline)'], ['total', 'total'],
    ['change', 'change'], ['rel', 'change %']];

  // Change of a function's total samples, baseline -> comparison.
  function change(r) {
    const d = r.total - r.btotal;
    return { abs: d, rel: r.btotal ? d / r.btotal : (d ? Infinity : 0) };
  }

  function sortValue(r, key) {
    if (key === 'name' || key === 'module') return String(r.frame[key] || '');
    if (key === 'change') return change(r).abs;
    if (key === 'rel') return change(r).rel;
    return r[key];
  }

  function renderHead(cols, key, asc) {
    const head = $('fn-table').tHead;
    head.textContent = '';
    const tr = head.insertRow();
    for (const [k, label] of cols) {
      const th = document.createElement('th');
      th.textContent = label;
      th.dataset.sort = k;
      th.className = (k === 'name' || k === 'module' ? '' : 'num') +
        (k === key ? ' sorted' + (asc ? ' asc' : '') : '');
      th.addEventListener('click', () => {
        state.sort = state.sort === k ? k + ':asc' : k;
        writeUrl();
        renderTable();
      });
      tr.appendChild(th);
    }
  }

  function renderTable() {
    const body = $('fn-table').tBodies[0];
    const diff = !!(model && model.diff), cols = diff ? DIFF_COLUMNS : COLUMNS;
    let [key, dir] = (state.sort || '').split(':');
    if (!cols.some((c) => c[0] === key)) key = diff ? 'change' : 'self';
    const asc = dir === 'asc';
    renderHead(cols, key, asc);
    body.textContent = '';
    if (!model) return;
    const text = key === 'name' || key === 'module';
    const rows = table.slice().sort((a, b) => {
      const x = sortValue(a, key), y = sortValue(b, key);
      const c = text ? String(x).localeCompare(String(y)) : (y > x) - (y < x);
      return asc ? -c : c;
    });
    const bt = diff ? model.baseTotal : 0;
    for (const r of rows.slice(0, 500)) {
      const tr = document.createElement('tr');
      const cells = [[r.frame.name], [r.frame.module || '']];
      if (diff) {
        const ch = change(r);
        cells.push([`${r.bself} (${pct(r.bself, bt)})`], [`${r.self} (${pct(r.self, model.total)})`],
          [`${r.btotal} (${pct(r.btotal, bt)})`], [`${r.total} (${pct(r.total, model.total)})`],
          [(ch.abs > 0 ? '+' : '') + ch.abs, ch.abs > 0 ? 'grew' : ch.abs < 0 ? 'shrank' : ''],
          [ch.rel === Infinity ? 'new' : (ch.rel > 0 ? '+' : '') + (100 * ch.rel).toFixed(2) + '%',
            ch.abs > 0 ? 'grew' : ch.abs < 0 ? 'shrank' : '']);
      } else {
        cells.push([`${r.self} (${pct(r.self, model.total)})`],
          [`${r.total} (${pct(r.total, model.total)})`]);
      }
      cells.forEach(([c, cls], i) => {
        const td = document.createElement('td');
        td.textContent = c;
        if (i >= 2) td.className = 'num' + (cls ? ' ' + cls : '');
        tr.appendChild(td);
      });
      tr.addEventListener('click', () => showSandwich(r.key));
      body.appendChild(tr);
    }
  }

  function showSandwich(key) {
    if (!model) return;
    sandwich = Ember.sandwich(model, key);
    state.fn = sandwich ? key : '';
    state.tab = sandwich ? 'sandwich' : state.tab;
    writeUrl();
    showTab();
    if (!sandwich) return;
    $('sandwich-title').textContent = `${sandwich.fn.name} (${sandwich.fn.module || '?'}): ` +
      `${sandwich.callees.root.v} samples, ${pct(sandwich.callees.root.v, model.total)}`;
    callers.setModel(sandwich.callers);
    callees.setModel(sandwich.callees);
    callers.draw();
    callees.draw();
  }

  function showTab() {
    const tab = state.tab || 'table';
    for (const b of document.querySelectorAll('#tabs button'))
      b.classList.toggle('active', b.dataset.tab === tab);
    $('table-box').hidden = tab !== 'table';
    $('sandwich-box').hidden = tab !== 'sandwich';
    if (tab === 'sandwich' && sandwich) {
      callers.draw();
      callees.draw();
    }
  }

  function tooltip(n, e, local) {
    const tip = $('tooltip');
    if (!n || !model) {
      tip.hidden = true;
      return;
    }
    const fr = n.frame, total = model.total;
    const lines = [fr.name, `module: ${fr.module || '?'}  kind: ${fr.kind}`];
    if (fr.file) lines.push(fr.file);
    lines.push(`total: ${n.v.toLocaleString()} (${pct(n.v, total)})`,
      `self: ${n.s.toLocaleString()} (${pct(n.s, total)})`);
    if (model.diff && !local) {
      const d = Ember.delta(model, n);
      lines.push(`baseline: ${n.b.toLocaleString()} (${pct(n.b, model.baseTotal)})`,
        `change of share: ${d >= 0 ? '+' : ''}${(100 * d).toFixed(2)} points`);
    }
    tip.textContent = lines.join('\n');
    tip.hidden = false;
    tip.style.left = Math.min(e.clientX + 14, window.innerWidth - tip.offsetWidth - 8) + 'px';
    tip.style.top = Math.min(e.clientY + 14, window.innerHeight - tip.offsetHeight - 8) + 'px';
  }

  function syncForm() {
    const map = { 'f-comm': 'comm', 'f-pid': 'pid', 'f-frame': 'frame', 'f-from': 'from',
      'f-to': 'to', 'b-from': 'base_from', 'b-to': 'base_to', 'b-comm': 'base_comm',
      'b-pid': 'base_pid', search: 'q' };
    for (const [id, k] of Object.entries(map)) $(id).value = state[k];
    $('f-kind').value = state.kind || 'all';
    $('o-layout').value = state.layout || 'flame';
    $('o-palette').value = state.palette || 'kind';
    $('o-diff').checked = !!state.diff;
    $('diff-box').hidden = !state.diff;
    $('o-live').checked = !!state.live;
    for (const b of document.querySelectorAll('#presets button'))
      b.classList.toggle('active', state.from === '-' + b.dataset.preset &&
        (state.to === '' || state.to === 'now'));
  }

  function readForm(ids) {
    for (const [id, k] of ids) state[k] = $(id).value.trim();
  }

  function wire() {
    $('filters').addEventListener('submit', (e) => {
      e.preventDefault();
      readForm([['f-comm', 'comm'], ['f-pid', 'pid'], ['f-frame', 'frame'], ['f-from', 'from'],
        ['f-to', 'to'], ['f-kind', 'kind']]);
      if (state.kind === 'all') state.kind = '';
      state.z = '';
      loadFlame();
      loadTimeline();
    });
    $('diff-form').addEventListener('submit', (e) => {
      e.preventDefault();
      readForm([['b-from', 'base_from'], ['b-to', 'base_to'], ['b-comm', 'base_comm'],
        ['b-pid', 'base_pid']]);
      state.z = '';
      loadFlame();
    });
    $('b-take').addEventListener('click', () => {
      // the dates the current range stands for now, not "-1h" that moves on
      state.base_from = range ? rfc3339(range[0]) : state.from;
      state.base_to = range ? rfc3339(range[1]) : state.to;
      syncForm();
      loadFlame();
    });
    $('o-diff').addEventListener('change', (e) => {
      state.diff = e.target.checked ? '1' : '';
      state.z = '';
      syncForm();
      loadFlame();
    });
    $('o-layout').addEventListener('change', (e) => { state.layout = e.target.value; writeUrl(); render(); });
    $('o-palette').addEventListener('change', (e) => { state.palette = e.target.value; writeUrl(); render(); });
    $('search').addEventListener('input', (e) => { state.q = e.target.value; writeUrl(); render(); });
    for (const b of document.querySelectorAll('#tabs button'))
      b.addEventListener('click', () => { state.tab = b.dataset.tab; writeUrl(); showTab(); });
    for (const b of document.querySelectorAll('#presets button'))
      b.addEventListener('click', () => {
        state.from = '-' + b.dataset.preset;
        state.to = 'now';
        state.z = '';
        syncForm();
        loadFlame();
        loadTimeline();
      });
    $('o-live').addEventListener('change', (e) => {
      state.live = e.target.checked ? String(windowS) : '';
      writeUrl();
      scheduleLive();
    });
    window.addEventListener('resize', () => render());
    Ember.drawLegend($('legend-bar'));
  }

  readUrl();
  syncForm();
  wire();
  showTab();
  if (embedded) {
    for (const id of ['filters', 'timeline-box', 'o-diff', 'presets']) $(id).hidden = true;
    $('o-diff').parentNode.hidden = true;
    $('o-live').parentNode.hidden = true;
    showModel(JSON.parse(embedded.textContent));
  } else {
    loadTimeline();
    loadFlame();
    scheduleLive();
  }
  // For tests and the console: what is on screen.
  window.emberDebug = () => ({
    state: { ...state },
    loaded: !!model,
    live: !!liveTimer,
    timeline: timeline.data ? { last: timeline.data.last, total: (timeline.data.total || [])
      .reduce((a, b) => a + b, 0) } : null,
    rects: flame.rects.map((r) => ({ name: r.n.frame.name, kind: r.n.frame.kind, depth: r.n.depth,
      x: r.x, y: r.y, w: r.w, v: r.n.v })),
  });
})();
