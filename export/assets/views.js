// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
// views.js - the views around the flame graph: timeline with range
// selection, function table, sandwich (callers/callees) trees, diff legend.
// Every name goes into the page as textContent or canvas text only.
'use strict';

(function () {
  const Ember = window.Ember = window.Ember || {};

  // A frame's identity across the tree: name + module + kind.
  Ember.frameKey = (fr) => fr.kind + '\u0000' + (fr.module || '') + '\u0000' + fr.name;

  // Per-function self and total (and the baseline's, bself/btotal, in a diff);
  // total counts a recursive function once per stack.
  Ember.functionTable = function (model) {
    const rows = new Map();
    const visit = (n, onPath) => {
      const fr = n.frame;
      if (fr.kind === 'root' || fr.kind === 'other' || fr.kind === 'process') {
        for (const k of n.kids) visit(k, onPath);
        return;
      }
      const key = Ember.frameKey(fr);
      let r = rows.get(key);
      if (!r) rows.set(key, r = { key, frame: fr, self: 0, total: 0, bself: 0, btotal: 0 });
      r.self += n.s;
      r.bself += n.bs || 0;
      const outer = !onPath.has(key);
      if (outer) {
        r.total += n.v;
        r.btotal += n.b || 0;
        onPath.add(key);
      }
      for (const k of n.kids) visit(k, onPath);
      if (outer) onPath.delete(key);
    };
    visit(model.root, new Set());
    return [...rows.values()];
  };

  // Merges paths into a fresh tree of the flame model's shape.
  function mergeInto(parent, frames, v, s) {
    let n = parent;
    for (const fr of frames) {
      let k = n.kids.find((c) => c.frame === fr);
      if (!k) {
        k = { frame: fr, v: 0, s: 0, b: 0, bs: 0, kids: [], parent: n, depth: n.depth + 1, x: 0 };
        n.kids.push(k);
      }
      k.v += v;
      n = k;
    }
    n.s += s;
  }

  function finish(root) {
    const nodes = [];
    const place = (n, x) => {
      n.x = x;
      n.id = nodes.length;
      nodes.push(n);
      let cx = x;
      n.kids.sort((a, b) => (a.frame.name < b.frame.name ? -1 : 1));
      for (const k of n.kids) {
        place(k, cx);
        cx += k.v;
      }
    };
    place(root, 0);
    return { nodes, root, total: root.v, diff: false };
  }

  // Callers (function at the root, callers outward) and callees of @key.
  Ember.sandwich = function (model, key) {
    let fn = null;
    const top = (fr) => ({ frame: fr, v: 0, s: 0, b: 0, bs: 0, kids: [], parent: null, depth: 0 });
    let callers = null, callees = null;
    const visit = (n, inside) => {
      const fr = n.frame, hit = Ember.frameKey(fr) === key;
      if (hit && !fn) {
        fn = fr;
        callers = top(fr);
        callees = top(fr);
      }
      if (hit && !inside) {
        const up = [];
        for (let a = n.parent; a && a.frame.kind !== 'root'; a = a.parent) up.push(a.frame);
        callers.v += n.v;
        mergeInto(callers, up, n.v, 0);
        callees.v += n.v;
        callees.s += n.s;
        const down = (c, path) => {
          path.push(c.frame);
          mergeInto(callees, path, 0, c.s);
          for (const g of c.kids) down(g, path);
          path.pop();
        };
        for (const c of n.kids) down(c, []);
      }
      for (const k of n.kids) visit(k, inside || hit);
    };
    visit(model.root, false);
    if (!fn) return null;
    fixCallees(callees);
    return { fn, callers: finish(callers), callees: finish(callees) };
  };

  // Callee totals are the sums of the selfs merged below them.
  function fixCallees(root) {
    const sum = (n) => {
      let t = n.s;
      for (const k of n.kids) t += sum(k);
      n.v = t;
      return t;
    };
    const own = root.v;
    sum(root);
    root.v = own;
  }

  // The timeline: bars of samples per bucket, lines for the top commands, drag to select.
  class Timeline {
    constructor(canvas, info, onSelect) {
      this.canvas = canvas;
      this.info = info;
      this.onSelect = onSelect;
      this.data = null;
      this.sel = null;
      this.drag = null;
      canvas.addEventListener('mousedown', (e) => {
        this.drag = { a: this._t(e), b: this._t(e) };
      });
      window.addEventListener('mousemove', (e) => {
        if (!this.drag) return;
        this.drag.b = this._t(e);
        this.draw();
      });
      window.addEventListener('mouseup', () => {
        if (!this.drag) return;
        const a = Math.min(this.drag.a, this.drag.b), b = Math.max(this.drag.a, this.drag.b);
        this.drag = null;
        if (b - a >= 1000) this.onSelect(Math.floor(a), Math.ceil(b));
        this.draw();
      });
      canvas.addEventListener('dblclick', () => this.onSelect(null, null));
    }

    _t(e) {
      const r = this.canvas.getBoundingClientRect(), d = this.data;
      if (!d) return 0;
      const f = Math.min(1, Math.max(0, (e.clientX - r.left) / r.width));
      return d.from + f * (d.to - d.from);
    }

    setData(d, sel) {
      this.data = d;
      this.sel = sel;
      this.draw();
      const fmt = (ms) => new Date(ms).toISOString().replace('.000Z', 'Z');
      this.info.textContent = d && d.buckets ? `${fmt(d.from)} .. ${fmt(d.to)} (drag to select, ` +
        `double-click for all) - top: ${d.series.map((s) => s.comm).join(', ')}` : 'no data';
    }

    draw() {
      const c = this.canvas, d = this.data, dpr = window.devicePixelRatio || 1;
      const w = c.clientWidth || 800, h = 70;
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
      const ctx = c.getContext('2d');
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, w, h);
      if (!d || !d.buckets) return;
      const max = Math.max(1, ...d.total), bw = w / d.buckets;
      ctx.fillStyle = '#f4a261';
      d.total.forEach((v, i) => {
        const bh = (v / max) * (h - 4);
        ctx.fillRect(i * bw, h - bh, Math.max(bw - 1, 1), bh);
      });
      const colours = ['#264653', '#2a9d8f', '#6a4c93', '#e76f51', '#1d3557'];
      d.series.forEach((s, j) => {
        ctx.strokeStyle = colours[j % colours.length];
        ctx.beginPath();
        s.values.forEach((v, i) => {
          const x = i * bw + bw / 2, y = h - (v / max) * (h - 4);
          if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
        });
        ctx.stroke();
      });
      const span = d.to - d.from, shade = (a, b, col) => {
        ctx.fillStyle = col;
        ctx.fillRect(((a - d.from) / span) * w, 0, ((b - a) / span) * w, h);
      };
      if (this.sel) shade(this.sel[0], this.sel[1], 'rgba(38,70,83,0.18)');
      if (this.drag) shade(Math.min(this.drag.a, this.drag.b), Math.max(this.drag.a, this.drag.b),
        'rgba(231,111,81,0.3)');
    }
  }
  Ember.Timeline = Timeline;

  Ember.drawLegend = function (canvas) {
    const ctx = canvas.getContext('2d'), w = canvas.width;
    for (let x = 0; x < w; x++) {
      ctx.fillStyle = Ember.diffColour((x / (w - 1)) * 2 - 1, 1);
      ctx.fillRect(x, 0, 1, canvas.height);
    }
  };
})();
