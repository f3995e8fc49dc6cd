// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
// flame.js - the flame graph: turns the API's tree into nodes and draws them
// on a canvas (flame or icicle, zoom, search highlight, kind/diff colours).
// Names are only ever drawn with fillText, never parsed as markup.
'use strict';

(function () {
  const Ember = window.Ember = window.Ember || {};
  const ROW = 18;

  // The API's nested tree -> nodes with parent, depth and x offset (in samples).
  Ember.buildModel = function (data) {
    const frames = data.frames;
    const nodes = [];
    const walk = (t, parent, depth, x) => {
      const n = { f: t.f, frame: frames[t.f], v: t.v, s: t.s, b: t.b || 0, bs: t.bs || 0,
        parent, depth, x, kids: [], id: nodes.length };
      nodes.push(n);
      let cx = x;
      for (const c of t.c || []) {
        n.kids.push(walk(c, n, depth + 1, cx));
        cx += c.v;
      }
      return n;
    };
    const root = walk(data.tree, null, 0, 0);
    return { frames, nodes, root, total: data.total, baseTotal: data.base_total || 0,
      diff: data.base_total !== undefined };
  };

  // Stable small hash of a string, for per-module colour variation.
  function hash(s) {
    let h = 2166136261;
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
    return (h >>> 0) / 4294967296;
  }

  const CB = { user: [230, 159, 0], kernel: [86, 180, 233], inline: [0, 158, 115], jit: [240, 228, 66],
    unknown: [153, 153, 153], process: [204, 121, 167], root: [217, 217, 217],
    other: [187, 187, 187] };

  function kindColour(frame, palette) {
    const k = frame.kind, h = hash(frame.module || frame.name);
    if (palette === 'cb') {
      const c = CB[k] || CB.unknown, d = Math.round((h - 0.5) * 40);
      return `rgb(${c[0] + d},${c[1] + d},${c[2] + d})`;
    }
    switch (k) {
      case 'kernel': return `hsl(${185 + h * 25},55%,${62 + h * 10}%)`;
      case 'inline': return `hsl(${95 + h * 30},50%,${60 + h * 10}%)`;
      case 'jit': return `hsl(${310 + h * 20},50%,${68 + h * 8}%)`;
      case 'unknown': return `hsl(0,0%,${68 + h * 10}%)`;
      case 'process': return `hsl(260,30%,${78 + h * 8}%)`;
      case 'root': return '#d6d6d6';
      case 'other': return '#bdbdbd';
      default: return `hsl(${h * 50},${75 + h * 15}%,${58 + h * 12}%)`;
    }
  }

  // Change of a frame's share of all samples, baseline -> comparison.
  Ember.delta = function (model, n) {
    const c = model.total ? n.v / model.total : 0;
    const b = model.baseTotal ? n.b / model.baseTotal : 0;
    return c - b;
  };

  function diffColour(d, max) {
    const t = Math.min(1, Math.abs(d) / (max || 1));
    const o = Math.round(255 * (1 - 0.85 * t));
    return d >= 0 ? `rgb(255,${o},${o})` : `rgb(${o},${o},255)`;
  }
  Ember.diffColour = diffColour;

  class FlameView {
    constructor(canvas, opts) {
      this.canvas = canvas;
      this.opts = opts || {};
      this.model = null;
      this.zoom = null;
      this.search = '';
      this.palette = 'kind';
      this.icicle = !!this.opts.icicle;
      this.rects = [];
      canvas.addEventListener('mousemove', (e) => this._hover(e));
      canvas.addEventListener('mouseleave', () => this.opts.onHover && this.opts.onHover(null));
      canvas.addEventListener('click', (e) => {
        const n = this.hit(e);
        if (n && this.opts.onClick) this.opts.onClick(n, e);
      });
    }

    setModel(model) {
      this.model = model;
      this.zoom = model ? model.root : null;
      this.maxDelta = 0;
      if (model && model.diff)
        for (const n of model.nodes)
          this.maxDelta = Math.max(this.maxDelta, Math.abs(Ember.delta(model, n)));
    }

    matches(n) {
      return this.search !== '' && n.frame.name.toLowerCase().includes(this.search);
    }

    colour(n) {
      if (this.search && this.matches(n)) return this.palette === 'cb' ? '#f0e442' : '#e040fb';
      if (this.model.diff && n.frame.kind !== 'root') return diffColour(Ember.delta(this.model, n), this.maxDelta);
      return kindColour(n.frame, this.palette);
    }

    // Nodes on screen: the zoomed node's ancestors (full width) and its subtree.
    _layout(width) {
      const z = this.zoom, out = [];
      const scale = width / (z.v || 1);
      for (let a = z.parent; a; a = a.parent) out.push({ n: a, x: 0, w: width });
      const visit = (n) => {
        const w = n.v * scale;
        if (w < 0.4) return;
        out.push({ n, x: (n.x - z.x) * scale, w });
        for (const k of n.kids) visit(k);
      };
      visit(z);
      return out;
    }

    draw() {
      const c = this.canvas, dpr = window.devicePixelRatio || 1;
      const width = c.clientWidth || c.parentNode.clientWidth || 800;
      if (!this.model) {
        c.height = 0;
        return;
      }
      const items = this._layout(width);
      let depth = 0;
      for (const it of items) depth = Math.max(depth, it.n.depth);
      const height = (depth + 1) * ROW + 2;
      c.width = Math.round(width * dpr);
      c.height = Math.round(height * dpr);
      c.style.height = height + 'px';
      const ctx = c.getContext('2d');
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, width, height);
      ctx.font = '11px ui-monospace, Menlo, Consolas, monospace';
      ctx.textBaseline = 'middle';
      const cw = ctx.measureText('m').width || 6.6;
      this.rects = [];
      for (const it of items) {
        const y = this.icicle ? it.n.depth * ROW : height - (it.n.depth + 1) * ROW;
        this.rects.push({ n: it.n, x: it.x, y, w: it.w });
        ctx.fillStyle = this.colour(it.n);
        ctx.fillRect(it.x, y, Math.max(it.w - 0.5, 0.4), ROW - 1);
        if (it.w < 3 * cw) continue;
        let label = it.n.frame.name;
        const fit = Math.floor((it.w - 6) / cw);
        if (label.length > fit) label = label.slice(0, Math.max(fit - 2, 0)) + '..';
        ctx.fillStyle = '#111';
        ctx.fillText(label, it.x + 3, y + ROW / 2);
      }
      this.height = height;
    }

    hit(e) {
      const r = this.canvas.getBoundingClientRect();
      const x = e.clientX - r.left, y = e.clientY - r.top;
      for (let i = this.rects.length - 1; i >= 0; i--) {
        const q = this.rects[i];
        if (x >= q.x && x < q.x + q.w && y >= q.y && y < q.y + ROW) return q.n;
      }
      return null;
    }

    _hover(e) {
      if (this.opts.onHover) this.opts.onHover(this.hit(e), e);
    }

    // Samples under matching frames, nested matches counted once.
    matchedSamples() {
      if (!this.search || !this.model) return 0;
      let sum = 0;
      const visit = (n) => {
        if (this.matches(n)) {
          sum += n.v;
          return;
        }
        for (const k of n.kids) visit(k);
      };
      visit(this.model.root);
      return sum;
    }
  }
  Ember.FlameView = FlameView;

  // Node path as child indices ("0.2.1"), so a link can restore a zoom.
  Ember.pathOf = function (n) {
    const p = [];
    for (; n && n.parent; n = n.parent) p.unshift(n.parent.kids.indexOf(n));
    return p.join('.');
  };
  Ember.nodeAt = function (model, path) {
    let n = model.root;
    if (!path) return n;
    for (const i of String(path).split('.')) {
      const k = n.kids[Number(i)];
      if (!k) break;
      n = k;
    }
    return n;
  };
})();
