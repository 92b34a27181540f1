// sdd-jobs dashboard: interactive training curves, drawn by the browser as SVG.
//
// SddCharts.curves(figure) fetches figure.dataset.metrics ({data: [{id, label, rows}]}, rows as
// GET /v1/jobs/{id}/metrics gives them) and draws the panels of sdd_client/plots.py: validation
// accuracy, training loss, validation loss and the complementary-region share where present, and
// the learning rate. One job: a legend entry per curve, by colour. Several (the compare page): a
// legend entry per job, by colour, and one per curve, by line style. Hovering shows the epoch and
// each visible series' value; a legend entry shows or hides its series; a drag across a panel zooms
// every panel to that epoch range; a double-click or "Reset zoom" shows every epoch again.
// chart.load() fetches and draws again, keeping the zoom and what is hidden (the job page calls it
// when an epoch finishes). Our own code, no dependencies; without it the page shows the server's SVG.
(function () {
  "use strict";

  var NS = "http://www.w3.org/2000/svg";
  var COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf"];  // matplotlib's tab10, as the server's plots
  var DASHES = ["", "7 4", "2 3"];
  var W = 480, H = 250;  // a panel's viewBox; CSS scales it to its column
  var PLOT = { left: 58, right: 468, top: 36, bottom: 212 };  // the plot area inside it
  var MIN_DRAG = 6;  // viewBox units a drag must cover to zoom
  var HELP = "Hover for values, drag across a panel to zoom, double-click to zoom out.";
  var clips = 0;  // clip-path ids, unique in the page

  function percent(v) { return v.toFixed(2) + "%"; }
  function share(v) { return (100 * v).toFixed(1) + "%"; }
  function plain(v) { return String(Number(v.toPrecision(4))); }

  // [field, legend name, value format] per curve; optional panels only when some row has a value
  var PANELS = [
    { title: "Validation accuracy (%)", curves: [["val_top1", "val top-1", percent], ["val_top5", "val top-5", percent]] },
    { title: "Training loss", curves: [["train_loss", "train loss", plain], ["train_ce", "train CE", plain],
      ["train_kd", "train KD", plain]] },
    { title: "Validation loss", optional: true, curves: [["val_loss", "val loss", plain]] },
    { title: "Complementary-region share (%)", optional: true, scale: 100,
      curves: [["complementary_share", "complementary share", share]] },
    { title: "Learning rate", curves: [["lr", "learning rate", plain]] },
  ];

  function finite(v) { return typeof v === "number" && isFinite(v); }

  function html(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function svg(tag, attrs, parent, text) {
    var node = document.createElementNS(NS, tag);
    Object.keys(attrs).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  // Each panel's series: one per (curve, job) with a value, points [epoch, plotted value, stored value].
  function panelsOf(jobs) {
    var several = jobs.length > 1, curveIndex = 0;
    return PANELS.map(function (panel) {
      var series = [];
      panel.curves.forEach(function (curve, c) {
        var color = COLORS[curveIndex++ % COLORS.length];
        jobs.forEach(function (job, j) {
          var points = [], at = {};
          job.rows.forEach(function (row, i) {
            var epoch = finite(row.epoch) ? row.epoch : i + 1, v = row[curve[0]];
            if (finite(v)) points.push(at[epoch] = [epoch, v * (panel.scale || 1), v]);
          });
          if (!points.length) return;
          points.sort(function (a, b) { return a[0] - b[0]; });
          series.push({
            job: "job:" + job.id, curve: "curve:" + curve[0], jobId: job.id, field: curve[0], name: curve[1],
            label: several ? job.label + " \u00b7 " + curve[1] : curve[1], format: curve[2], points: points, at: at,
            color: several ? COLORS[j % COLORS.length] : color, dash: several ? DASHES[c % DASHES.length] : "",
          });
        });
      });
      return { title: panel.title, optional: panel.optional, series: series };
    }).filter(function (panel) { return panel.series.length || !panel.optional; });
  }

  // About five round values from lo to hi.
  function ticks(lo, hi, count) {
    var raw = (hi - lo) / count, step = Math.pow(10, Math.floor(Math.log10(raw))), out = [];
    step *= raw / step >= 7.5 ? 10 : raw / step >= 3.5 ? 5 : raw / step >= 1.5 ? 2 : 1;
    for (var v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
    return out;
  }

  function Chart(figure) {
    this.figure = figure;
    this.jobs = [];
    this.hidden = {};  // legend key -> true while its series are hidden
    this.zoom = null;  // [from, to] epochs shown, null for the whole run
    this.drag = null;
    Array.prototype.slice.call(figure.children).forEach(function (child) {
      if (child.tagName !== "NOSCRIPT") child.remove();
    });
    var bar = html("div", "chart-bar");
    this.legend = html("div", "chart-legend");
    this.legend.setAttribute("role", "group");
    this.legend.setAttribute("aria-label", "Show or hide series");
    this.reset = html("button", "chart-reset", "Reset zoom");
    this.reset.type = "button";
    this.reset.addEventListener("click", this.resetZoom.bind(this));
    bar.append(this.legend, this.reset);
    this.grid = html("div", "chart-panels");
    this.tip = html("div", "chart-tip");
    this.tip.hidden = true;
    this.note = html("p", "chart-note muted", HELP);
    figure.classList.add("chart");
    figure.append(bar, this.grid, this.note, this.tip);
  }

  Chart.prototype.load = function () {
    var chart = this;
    return fetch(this.figure.dataset.metrics, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (body) {
        chart.jobs = body.data;
        chart.note.textContent = HELP;
        chart.draw();
      })
      .catch(function () { chart.note.textContent = "The curves could not be loaded; reload the page to try again."; });
  };

  Chart.prototype.draw = function () {
    var several = this.jobs.length > 1, last = 1;
    this.panels = panelsOf(this.jobs);
    this.jobs.forEach(function (job) {
      job.rows.forEach(function (row) { last = Math.max(last, finite(row.epochs) ? row.epochs : 0, row.epoch || 0); });
    });
    var pad = Math.max(0.5, 0.03 * (last - 1));  // the planned run: a live job's curves fill it from the left
    this.full = [1 - pad, last + pad];
    var entries = several ? this.jobs.map(function (job, j) {
      var empty = job.rows.length ? "" : " (no finished epoch yet)";
      return { key: "job:" + job.id, label: job.label + empty, color: COLORS[j % COLORS.length], dash: "" };
    }) : [];
    if (several) entries.push({ key: "", label: "" });  // the jobs on a row, the curves below
    var seen = {};
    this.panels.forEach(function (panel) {
      panel.series.forEach(function (s) {
        if (seen[s.curve]) return;
        seen[s.curve] = true;
        entries.push({ key: s.curve, label: s.name, color: several ? "#444" : s.color, dash: s.dash });
      });
    });
    var keys = entries.map(function (e) { return e.key + "=" + e.label; }).join("\n");
    if (keys !== this.legendKeys) this.drawLegend(entries);  // redrawn only when it changes: focus stays put
    this.legendKeys = keys;
    this.drawPanels();
  };

  Chart.prototype.drawLegend = function (entries) {
    var chart = this;
    this.legend.textContent = "";
    entries.forEach(function (entry) {
      if (!entry.key) return chart.legend.appendChild(html("span", "legend-break"));
      var button = html("button", "legend-item");
      button.type = "button";
      button.dataset.key = entry.key;
      button.setAttribute("aria-pressed", String(!chart.hidden[entry.key]));
      var swatch = svg("svg", { width: 22, height: 10, "aria-hidden": "true" }, button);
      svg("line", { x1: 1, y1: 5, x2: 21, y2: 5, stroke: entry.color, "stroke-width": 2.5, "stroke-dasharray": entry.dash },
        swatch);
      button.appendChild(html("span", "", entry.label));
      button.addEventListener("click", function () {
        chart.hidden[entry.key] = !chart.hidden[entry.key];
        button.setAttribute("aria-pressed", String(!chart.hidden[entry.key]));
        chart.drawPanels();
      });
      chart.legend.appendChild(button);
    });
  };

  Chart.prototype.resetZoom = function () {
    this.zoom = null;
    this.drawPanels();
  };

  Chart.prototype.drawPanels = function () {
    var chart = this, epochs = {};
    this.x = this.zoom || this.full;
    this.reset.disabled = !this.zoom;
    this.grid.textContent = "";
    this.hideHover();
    this.views = this.panels.map(function (panel) { return chart.drawPanel(panel, epochs); });
    this.epochs = Object.keys(epochs).map(Number).sort(function (a, b) { return a - b; });
  };

  // One panel's SVG; adds the epochs it shows to ``epochs``.
  Chart.prototype.drawPanel = function (panel, epochs) {
    var chart = this, x0 = this.x[0], x1 = this.x[1], ys = [];
    var shown = panel.series.filter(function (s) { return !chart.hidden[s.job] && !chart.hidden[s.curve]; });
    shown.forEach(function (s) {  // the y range takes the points shown and the next ones out, so lines stay inside
      s.points.forEach(function (p, i) {
        var before = s.points[i - 1], after = s.points[i + 1];
        if (p[0] >= x0 && p[0] <= x1) epochs[p[0]] = true;
        if ((p[0] >= x0 || (after && after[0] >= x0)) && (p[0] <= x1 || (before && before[0] <= x1))) ys.push(p[1]);
      });
    });
    var y0 = ys.length ? Math.min.apply(null, ys) : 0, y1 = ys.length ? Math.max.apply(null, ys) : 1;
    var margin = y1 > y0 ? 0.06 * (y1 - y0) : Math.abs(y0) * 0.1 || 1;
    y0 -= margin;
    y1 += margin;
    function sx(v) { return PLOT.left + (v - x0) / (x1 - x0) * (PLOT.right - PLOT.left); }
    function sy(v) { return PLOT.bottom - (v - y0) / (y1 - y0) * (PLOT.bottom - PLOT.top); }

    var root = svg("svg", { viewBox: "0 0 " + W + " " + H, class: "chart-panel", role: "img", "aria-label": panel.title,
      "data-x-min": x0.toFixed(3), "data-x-max": x1.toFixed(3) }, this.grid);
    svg("text", { x: PLOT.left, y: 18, class: "chart-title" }, root, panel.title);
    ticks(y0, y1, 5).forEach(function (v) {
      svg("line", { x1: PLOT.left, x2: PLOT.right, y1: sy(v), y2: sy(v), class: "chart-grid" }, root);
      svg("text", { x: PLOT.left - 6, y: sy(v) + 4, "text-anchor": "end", class: "chart-tick" }, root, String(v));
    });
    ticks(x0, x1, 6).filter(Number.isInteger).forEach(function (v) {
      svg("line", { x1: sx(v), x2: sx(v), y1: PLOT.top, y2: PLOT.bottom, class: "chart-grid" }, root);
      svg("text", { x: sx(v), y: PLOT.bottom + 16, "text-anchor": "middle", class: "chart-tick" }, root, String(v));
    });
    svg("text", { x: (PLOT.left + PLOT.right) / 2, y: H - 4, "text-anchor": "middle", class: "chart-axis" }, root, "epoch");
    svg("rect", { x: PLOT.left, y: PLOT.top, width: PLOT.right - PLOT.left, height: PLOT.bottom - PLOT.top,
      class: "chart-frame" }, root);
    var clip = "chart-clip-" + ++clips;
    svg("rect", { x: PLOT.left, y: PLOT.top - 4, width: PLOT.right - PLOT.left, height: PLOT.bottom - PLOT.top + 8 },
      svg("clipPath", { id: clip }, root));
    var lines = svg("g", { "clip-path": "url(#" + clip + ")" }, root);
    shown.forEach(function (s) {
      var g = svg("g", { "data-job": s.jobId, "data-curve": s.field }, lines);
      var d = s.points.map(function (p, i) {  // a missing epoch leaves a gap
        var move = i === 0 || p[0] - s.points[i - 1][0] > 1 ? "M" : "L";
        return move + sx(p[0]).toFixed(1) + " " + sy(p[1]).toFixed(1);
      }).join("");
      svg("path", { d: d, fill: "none", stroke: s.color, "stroke-width": 1.6, "stroke-dasharray": s.dash }, g);
      s.points.forEach(function (p) {
        svg("circle", { cx: sx(p[0]), cy: sy(p[1]), r: 2.2, fill: s.color, "data-epoch": p[0] }, g);
      });
    });
    var cross = svg("line", { y1: PLOT.top, y2: PLOT.bottom, class: "chart-cross", visibility: "hidden" }, root);
    var dots = svg("g", {}, root);
    var band = svg("rect", { y: PLOT.top, height: PLOT.bottom - PLOT.top, class: "chart-band", visibility: "hidden" }, root);
    var view = { root: root, shown: shown, sx: sx, sy: sy, cross: cross, dots: dots, band: band };

    function at(event) {  // the pointer's x in viewBox units
      var box = root.getBoundingClientRect();
      return (event.clientX - box.left) * W / box.width;
    }
    function epochAt(x) { return x0 + (x - PLOT.left) / (PLOT.right - PLOT.left) * (x1 - x0); }
    function inside(x) { return x >= PLOT.left && x <= PLOT.right; }
    root.addEventListener("mousedown", function (event) {
      if (event.button !== 0 || !inside(at(event))) return;
      event.preventDefault();  // no text selection while dragging
      chart.drag = { view: view, from: at(event) };
    });
    root.addEventListener("mousemove", function (event) {
      var x = Math.min(PLOT.right, Math.max(PLOT.left, at(event)));
      if (chart.drag && chart.drag.view === view) {
        band.setAttribute("x", Math.min(chart.drag.from, x));
        band.setAttribute("width", Math.abs(x - chart.drag.from));
        band.setAttribute("visibility", "visible");
      }
      if (inside(at(event))) chart.showHover(epochAt(x), view, event); else chart.hideHover();
    });
    root.addEventListener("mouseup", function (event) {
      var drag = chart.drag, x = Math.min(PLOT.right, Math.max(PLOT.left, at(event)));
      chart.drag = null;
      band.setAttribute("visibility", "hidden");
      if (!drag || drag.view !== view || Math.abs(x - drag.from) < MIN_DRAG) return;
      chart.zoom = [epochAt(Math.min(drag.from, x)), epochAt(Math.max(drag.from, x))];
      chart.drawPanels();
    });
    root.addEventListener("mouseleave", function () {
      chart.drag = null;
      band.setAttribute("visibility", "hidden");
      chart.hideHover();
    });
    root.addEventListener("dblclick", function () { chart.resetZoom(); });
    return view;
  };

  // The crosshair at the shown epoch nearest ``epoch`` in every panel; the values in a tooltip by the pointer.
  Chart.prototype.showHover = function (epoch, hovered, event) {
    var chart = this, nearest = null;
    this.epochs.forEach(function (e) { if (nearest === null || Math.abs(e - epoch) < Math.abs(nearest - epoch)) nearest = e; });
    if (nearest === null) return this.hideHover();
    this.tip.textContent = "";
    this.tip.appendChild(html("strong", "", "epoch " + nearest));
    this.views.forEach(function (view) {
      var x = view.sx(nearest);
      view.cross.setAttribute("x1", x);
      view.cross.setAttribute("x2", x);
      view.cross.setAttribute("visibility", "visible");
      view.dots.textContent = "";
      view.shown.forEach(function (s) {
        var p = s.at[nearest];
        if (!p) return;
        svg("circle", { cx: x, cy: view.sy(p[1]), r: 4, fill: "#fff", stroke: s.color, "stroke-width": 2 }, view.dots);
        var line = html("div", "chart-tip-row");
        var swatch = html("span", "chart-swatch");
        swatch.style.background = s.color;  // CSSOM, which the page's style policy allows
        line.append(swatch, html("span", "", s.label + ": "), html("span", "chart-value", s.format(p[2])));
        chart.tip.appendChild(line);
      });
    });
    var box = this.figure.getBoundingClientRect();
    this.tip.hidden = false;
    var left = event.clientX - box.left + 14;
    if (left + this.tip.offsetWidth > box.width) left = Math.max(0, event.clientX - box.left - 14 - this.tip.offsetWidth);
    this.tip.style.left = left + "px";
    this.tip.style.top = (event.clientY - box.top + 14) + "px";
  };

  Chart.prototype.hideHover = function () {
    this.tip.hidden = true;
    (this.views || []).forEach(function (view) {
      view.cross.setAttribute("visibility", "hidden");
      view.dots.textContent = "";
    });
  };

  window.SddCharts = {
    curves: function (figure) {
      var chart = new Chart(figure);
      figure.sddChart = chart;
      chart.load();
      return chart;
    },
  };

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("figure[data-metrics]").forEach(function (figure) {
      if (figure.dataset.epoch !== "0") window.SddCharts.curves(figure);  // a job page before its first epoch: later
    });
  });
})();
