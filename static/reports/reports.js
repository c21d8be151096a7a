// Report charts: each <canvas data-chart> reads its Chart.js configuration from a
// JSON <script> beside it. Ticket text only ever goes into the page as text.
(function () {
  "use strict";

  const missing = document.getElementById("charts-missing");
  if (typeof window.Chart === "undefined") {
    if (missing) missing.hidden = false;
    return;
  }
  const Chart = window.Chart;
  const matrix = window["chartjs-chart-matrix"];
  if (matrix) Chart.register(matrix.MatrixController, matrix.MatrixElement);

  const PALETTE = ["#2357d9", "#18794e", "#b35c00", "#8e44ad", "#c0262d", "#0f8b8d", "#7f8c8d", "#d35400",
    "#2c3e50", "#27ae60", "#e84393", "#6c5ce7"];
  window.assistCharts = {};

  function decorate(config) {
    const datasets = (config.data && config.data.datasets) || [];
    datasets.forEach(function (ds, i) {
      const colour = PALETTE[i % PALETTE.length];
      if (ds.role === "volume") {
        ds.backgroundColor = "rgba(120, 130, 150, 0.25)";
        ds.order = 10;
      } else if (ds.role === "promotion") {
        ds.backgroundColor = "#c0262d";
        ds.borderColor = "#c0262d";
        ds.pointStyle = "triangle";
        ds.pointRadius = 9;
        ds.order = 0;
      } else if (ds.role === "ref") {
        ds.borderColor = "#7f8c8d";
        ds.borderDash = [6, 4];
        ds.pointRadius = 0;
        ds.fill = false;
      } else if (config.type !== "matrix") {
        ds.borderColor = colour;
        ds.backgroundColor = ds.type === "line" || ds.showLine ? colour : colour + "cc";
      }
      delete ds.role;
    });
    config.options = config.options || {};
    config.options.animation = false;
    config.options.maintainAspectRatio = false;
    config.options.plugins = config.options.plugins || {};
    // An axis of shares (0 to 1) reads in percent, as the tables beside it do, and so
    // do the tooltips of the values drawn against it.
    const percentAxes = new Set();
    Object.entries(config.options.scales || {}).forEach(function ([id, scale]) {
      if (scale.title) scale.title.display = true;
      if (scale.max === 1 || scale.max === 1.05) {
        percentAxes.add(id);
        scale.ticks = Object.assign({}, scale.ticks, {
          callback: function (value) { return value <= 1 ? Math.round(value * 100) + " %" : ""; },
        });
      }
    });
    // Axes that name every bar (autoSkip off) cut long names, which the tooltip shows whole.
    Object.values(config.options.scales || {}).forEach(function (scale) {
      if (!scale.ticks || scale.ticks.autoSkip !== false || scale.ticks.callback) return;
      scale.ticks.callback = function (value) {
        const label = String(this.getLabelForValue(value));
        return label.length > 48 ? label.slice(0, 47) + "…" : label;
      };
    });
    // Days on an axis read as on every page ("1 Dec 2026"), never as ISO dates.
    const isDay = function (label) { return /^\d{4}-\d{2}-\d{2}$/.test(label); };
    const labels = (config.data && config.data.labels) || [];
    if (config.type !== "matrix" && config.options.indexAxis !== "y" && labels.some(isDay)) {
      const scale = config.options.scales && config.options.scales.x;
      const ticks = function (value) {
        const label = this.getLabelForValue(value);
        return isDay(label) ? window.AssistFormat.day(label) : label;
      };
      config.options.scales = Object.assign({}, config.options.scales, {
        x: Object.assign({}, scale, { ticks: Object.assign({}, scale && scale.ticks, { callback: ticks }) }),
      });
    }
    const pct = function (v) { return (v * 100).toFixed(1) + " %"; };
    config.options.plugins.tooltip = {
      callbacks: {
        label: function (item) {
          const raw = item.raw || {};
          if (raw.label) return raw.label;
          if (raw.v !== undefined) return raw.v + " tickets: suggested " + raw.x + ", chosen " + raw.y;
          const x = item.dataset.xAxisID || "x";
          const y = item.dataset.yAxisID || "y";
          if (typeof item.raw === "number" && percentAxes.has(config.options.indexAxis === "y" ? x : y)) {
            return item.dataset.label + ": " + pct(item.raw);
          }
          if (typeof raw.x === "number" && typeof raw.y === "number" && percentAxes.has(x) && percentAxes.has(y)) {
            return item.dataset.label + ": " + pct(raw.x) + " → " + pct(raw.y);
          }
          return undefined;
        },
      },
    };
  }

  function matrixOptions(config, canvas) {
    const ds = config.data.datasets[0];
    const labels = config.options.scales.x.labels;
    const max = Math.max(1, ...ds.data.map(function (d) { return d.v; }));
    ds.backgroundColor = function (ctx) {
      const raw = ctx.dataset.data[ctx.dataIndex];
      const alpha = raw ? 0.08 + 0.92 * (raw.v / max) : 0;
      return raw && raw.x === raw.y ? "rgba(24, 121, 78, " + alpha + ")" : "rgba(192, 38, 45, " + alpha + ")";
    };
    ds.borderColor = "rgba(0, 0, 0, 0.08)";
    ds.borderWidth = 1;
    ds.width = function (ctx) { const a = ctx.chart.chartArea; return a ? a.width / labels.length - 1 : 0; };
    // Cells are keyed by slug (the ticket list asks for slugs); people read names.
    const names = config.names || {};
    delete config.names;
    function named(slug) { return names[slug] || slug; }
    // Every row and column is a category: a skipped label leaves a column unnamed.
    ["x", "y"].forEach(function (axis) {
      const scale = config.options.scales[axis];
      scale.ticks = Object.assign({}, scale.ticks, {
        autoSkip: false,
        callback: function (value) { return named(this.getLabelForValue(value)); },
      });
    });
    config.options.plugins.tooltip.callbacks.label = function (item) {
      const raw = item.raw || {};
      return raw.v + " tickets: suggested " + named(raw.x) + ", chosen " + named(raw.y);
    };
    ds.height = function (ctx) { const a = ctx.chart.chartArea; return a ? a.height / labels.length - 1 : 0; };
    config.options.plugins.legend = { display: false };
    const cellUrl = config.cellUrl;
    delete config.cellUrl;
    config.options.onClick = function (event, elements, chart) {
      if (!elements.length) return;
      const raw = chart.data.datasets[0].data[elements[0].index];
      showCell(cellUrl, raw.x, raw.y, canvas);
    };
    config.options.onHover = function (event, elements) {
      event.native.target.style.cursor = elements.length ? "pointer" : "default";
    };
  }

  function showCell(cellUrl, suggested, chosen) {
    const box = document.getElementById("cell-tickets");
    const url = cellUrl + "&format=json&suggested=" + encodeURIComponent(suggested) +
      "&chosen=" + encodeURIComponent(chosen);
    box.replaceChildren(document.createTextNode("Loading…"));
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (body) {
        const heading = document.createElement("h3");
        heading.textContent = "Suggested " + body.suggested_name + ", chosen " + body.chosen_name + ": " +
          body.tickets.length + " ticket" + (body.tickets.length === 1 ? "" : "s");
        const list = document.createElement("ul");
        list.id = "cell-ticket-list";
        body.tickets.forEach(function (t) {
          const item = document.createElement("li");
          item.dataset.ticket = t.id;
          const link = document.createElement("a");
          link.href = t.url;
          link.textContent = "#" + t.id;
          item.append(link, document.createTextNode(" " + t.subject + " (" + t.agent + ", " + t.day + ")"));
          list.append(item);
        });
        box.replaceChildren(heading, list);
      })
      .catch(function (error) {
        box.replaceChildren(document.createTextNode("Could not load the tickets: " + error.message));
      });
  }

  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    const source = document.getElementById(canvas.dataset.chart);
    if (!source) return;
    const config = JSON.parse(source.textContent);
    decorate(config);
    if (config.type === "matrix") {
      if (!matrix) {
        canvas.replaceWith(document.createTextNode("The heatmap plugin is missing; the table has the counts."));
        return;
      }
      matrixOptions(config, canvas);
    }
    window.assistCharts[canvas.id] = new Chart(canvas, config);
  });
})();
