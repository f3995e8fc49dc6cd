// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
// svg.js - the script inlined into exported SVG flame graphs (export/svg.c),
// in the manner of flamegraph.pl: click a frame to zoom to it, "Reset Zoom",
// "Search" (a regular expression, or ?s=TEXT in the URL) highlights matching
// frames and shows the share of samples they cover; hover shows details.
// Talks to nothing: the file works from disk.
(function () {
  'use strict';
  var svg = document.documentElement, NS = 'http://www.w3.org/2000/svg';
  var W = parseFloat(svg.getAttribute('width')), ROW_PAD = 4, CHAR_PX = 7;
  var total = parseFloat(svg.getAttribute('data-total')) || 1;
  var frames = Array.prototype.slice.call(document.querySelectorAll('#frames > g'));
  var reset = document.getElementById('reset'), search = document.getElementById('search');
  var details = document.getElementById('details'), matched = document.getElementById('matched');
  var HIGHLIGHT = 'rgb(230,0,230)', zoomed = null, term = null;

  function num(g, k) { return parseFloat(g.getAttribute('data-' + k)); }
  function rect(g) { return g.querySelector('rect'); }

  // Fits a frame's name into its width the way export/svg.c does.
  function label(g, x, w) {
    var t = g.querySelector('text'), r = rect(g), name = g.getAttribute('data-n'), n;
    if (w <= 30) {
      if (t) t.textContent = '';
      return;
    }
    if (!t) {
      t = document.createElementNS(NS, 'text');
      t.setAttribute('y', parseFloat(r.getAttribute('y')) + parseFloat(r.getAttribute('height')) + 1 - ROW_PAD);
      g.appendChild(t);
    }
    n = Math.max(1, Math.floor(w / CHAR_PX) - 2);
    t.textContent = name.length <= n ? name : name.slice(0, n) + '..';
    t.setAttribute('x', (x + 3).toFixed(1));
  }

  function place(g, x, w, show, parent) {
    var r = rect(g);
    g.style.display = show ? '' : 'none';
    if (!show) return;
    r.setAttribute('x', x.toFixed(1));
    r.setAttribute('width', w.toFixed(1));
    g.style.opacity = parent ? '0.6' : '';
    label(g, x, w);
  }

  // Zooms to @z (null: the whole graph): @z spans the width, its callers
  // stay as full-width dimmed bars, frames beside it are hidden.
  function zoom(z) {
    var zx = z ? num(z, 'x') : 0, zw = z ? num(z, 'w') : total;
    var zy = z ? parseFloat(rect(z).getAttribute('y')) : Infinity;
    frames.forEach(function (g) {
      var x = num(g, 'x'), w = num(g, 'w'), y = parseFloat(rect(g).getAttribute('y'));
      if (z && y > zy)	// a caller of @z when it spans it
        place(g, 0, W, x <= zx && x + w >= zx + zw, true);
      else
        place(g, (x - zx) / zw * W, w / zw * W, x >= zx && x + w <= zx + zw, false);
    });
    zoomed = z;
    reset.setAttribute('visibility', z ? 'visible' : 'hidden');
  }

  // Highlights frames whose name matches @re (null clears) and shows the
  // share of samples under them, counting nested matches once.
  function find(re) {
    var spans = [], sum = 0, end = -1;
    frames.forEach(function (g) {
      var r = rect(g), hit = re && re.test(g.getAttribute('data-n'));
      if (!r.hasAttribute('data-fill')) r.setAttribute('data-fill', r.getAttribute('fill'));
      r.setAttribute('fill', hit ? HIGHLIGHT : r.getAttribute('data-fill'));
      if (hit) spans.push([num(g, 'x'), num(g, 'w')]);
    });
    spans.sort(function (a, b) { return a[0] - b[0] || b[1] - a[1]; });
    spans.forEach(function (s) {
      if (s[0] + s[1] <= end) return;
      sum += s[0] + s[1] - Math.max(s[0], end);
      end = s[0] + s[1];
    });
    term = re;
    search.textContent = re ? 'Reset Search' : 'Search';
    matched.textContent = re ? 'Matched: ' + (100 * sum / total).toFixed(2) + '% (' + sum + ' samples)' : ' ';
  }

  function askSearch() {
    var s;
    if (term) return find(null);
    s = window.prompt('Search for (regular expression):', '');
    if (!s) return;
    try {
      find(new RegExp(s));
    } catch (e) {
      find(new RegExp(s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    }
  }

  frames.forEach(function (g) {
    g.style.cursor = 'pointer';
    g.addEventListener('click', function () { zoom(g); });
    g.addEventListener('mouseover', function () {
      details.textContent = g.querySelector('title').textContent;
    });
    g.addEventListener('mouseout', function () { details.textContent = ' '; });
  });
  reset.addEventListener('click', function () { zoom(null); });
  search.addEventListener('click', askSearch);
  search.setAttribute('visibility', 'visible');
  document.addEventListener('keydown', function (e) {
    if ((e.ctrlKey || e.metaKey) && e.key === 'f') {
      e.preventDefault();
      askSearch();
    } else if (e.key === 'Escape') {
      zoom(null);
      find(null);
    }
  });
  var q = /[?&]s=([^&]*)/.exec(window.location.search);
  if (q) find(new RegExp(decodeURIComponent(q[1]).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  window.emberSvg = { zoom: function () { return zoomed && zoomed.getAttribute('data-n'); },
    search: function () { return term && term.source; } };
}());
