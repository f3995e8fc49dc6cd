// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
// app.js - the viewer's state (all of it in the URL, so a link reproduces a
// view), fetching from the API (or the data embedded by `ember export
// --format html`), and wiring the views together.
'use strict';

(function () {
  const Ember = window.Ember;
  const $ = (id) => document.getElementById(id);
  const KEYS = ['from', 'to', 'comm', 'pid', 'kind', 'frame', 'q', 'z', 'layout', 'palette',
    'diff', 'base_from', 'base_to', 'base_comm', 'base_pid', 'tab', 'fn', 'sort'];
  const embedded = $('ember-data');
  const state = {};
  let model = null, table = [], tableSort = 'self', sandwich = null;

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
    state.from = a === null ? '' : String(Math.floor(a / 1000));
    state.to = b === null ? '' : String(Math.ceil(b / 1000));
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
      timeline.setData(d, selection());
    } catch (err) {
      $('timeline-info').textContent = 'timeline: ' + err.message;
    }
  }

  function selection() {
    const t = (s) => (/^\d+(\.\d+)?$/.test(s) ? Number(s) * 1000 : null);
    const a = t(state.from), b = t(state.to);
    return a !== null && b !== null ? [a, b] : null;
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

  function renderTable() {
    const body = $('fn-table').tBodies[0];
    body.textContent = '';
    const key = state.sort || 'self';
    const rows = table.slice().sort((a, b) => (key === 'name' || key === 'module' ?
      String(a.frame[key] || '').localeCompare(String(b.frame[key] || '')) : b[key] - a[key]));
    for (const r of rows.slice(0, 500)) {
      const tr = document.createElement('tr');
      const cells = [r.frame.name, r.frame.module || '', `${r.self} (${pct(r.self, model.total)})`,
        `${r.total} (${pct(r.total, model.total)})`];
      cells.forEach((c, i) => {
        const td = document.createElement('td');
        td.textContent = c;
        if (i >= 2) td.className = 'num';
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
    if (fr.file) lines.push(`${fr.file}:${fr.line || '?'}`);
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
      state.base_from = state.from;
      state.base_to = state.to;
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
    for (const th of document.querySelectorAll('#fn-table th'))
      th.addEventListener('click', () => { state.sort = th.dataset.sort; writeUrl(); renderTable(); });
    window.addEventListener('resize', () => render());
    Ember.drawLegend($('legend-bar'));
  }

  readUrl();
  syncForm();
  wire();
  showTab();
  if (embedded) {
    for (const id of ['filters', 'timeline-box', 'o-diff']) $(id).hidden = true;
    $('o-diff').parentNode.hidden = true;
    showModel(JSON.parse(embedded.textContent));
  } else {
    loadTimeline();
    loadFlame();
  }
  // For tests and the console: what is on screen.
  window.emberDebug = () => ({
    state: { ...state },
    loaded: !!model,
    rects: flame.rects.map((r) => ({ name: r.n.frame.name, kind: r.n.frame.kind, depth: r.n.depth,
      x: r.x, y: r.y, w: r.w, v: r.n.v })),
  });
})();
