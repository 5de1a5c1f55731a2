// Forecast pages: ECharts from the page's JSON data islands, and the roll-up tree's expand / collapse.
// No inline script or style under the CSP: labels come translated from the server, tooltips are plain
// text built here, and a click on a bar or point opens the opportunities behind it (each datum carries
// its url). A unit's rows below the first levels load on demand (htmx) the first time it is opened.
(function () {
  "use strict";

  var COLORS = {
    pipeline: "#94a3b8",
    best_case: "#0891b2",
    commit: "#1d4ed8",
    won: "#16a34a",
    line: "#ca8a04",
    accuracy: "#9333ea"
  };

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function formatter(locale) {
    var tag = locale === "EN" ? "en" : "zh-CN";
    return {
      number: function (v, digits) {
        if (v == null || isNaN(v)) { return "—"; }
        return Number(v).toLocaleString(tag, { maximumFractionDigits: digits == null ? 0 : digits });
      },
      compact: function (v) {
        var n = Number(v) || 0, a = Math.abs(n);
        if (locale === "EN") {
          if (a >= 1e9) { return (n / 1e9).toFixed(1) + "B"; }
          if (a >= 1e6) { return (n / 1e6).toFixed(1) + "M"; }
          if (a >= 1e3) { return (n / 1e3).toFixed(0) + "K"; }
          return String(n);
        }
        if (a >= 1e8) { return (n / 1e8).toFixed(1) + "亿"; }
        if (a >= 1e4) { return (n / 1e4).toFixed(0) + "万"; }
        return String(n);
      }
    };
  }

  function value(it) {
    var v = it && it.value;
    if (v && typeof v === "object") { v = v.value; }
    return v;
  }

  function axisTooltip(fmt, suffixes) {
    return {
      trigger: "axis",
      axisPointer: { type: "shadow" },
      formatter: function (items) {
        if (!items || !items.length) { return ""; }
        var lines = [esc(items[0].axisValueLabel)];
        items.forEach(function (it) {
          var suffix = (suffixes && suffixes[it.seriesName]) || "";
          lines.push(esc(it.seriesName) + ": " + esc(fmt.number(value(it), suffix ? 1 : 0)) + suffix);
        });
        return lines.join("<br>");
      }
    };
  }

  function grid() { return { left: 8, right: 12, top: 40, bottom: 8, containLabel: true }; }

  var builders = {
    forecast: function (d, fmt) {
      var series = d.bars.map(function (s) {
        return { name: s.name, type: "bar", stack: "categories", data: s.data, itemStyle: { color: COLORS[s.key] } };
      });
      series.push({
        name: d.line.name, type: "line", data: d.line.data, symbolSize: 7,
        itemStyle: { color: COLORS.line }, lineStyle: { width: 2 }
      });
      return {
        legend: { top: 0, type: "scroll" },
        grid: grid(),
        tooltip: axisTooltip(fmt),
        xAxis: { type: "category", data: d.months },
        yAxis: { type: "value", axisLabel: { formatter: fmt.compact } },
        series: series
      };
    },
    accuracy: function (d, fmt) {
      var pct = {};
      pct[d.accuracy_name] = "%";
      return {
        legend: { top: 0 },
        grid: grid(),
        tooltip: axisTooltip(fmt, pct),
        xAxis: { type: "category", data: d.months },
        yAxis: [
          { type: "value", axisLabel: { formatter: fmt.compact } },
          { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" }, splitLine: { show: false } }
        ],
        series: [
          { name: d.forecast_name, type: "bar", data: d.forecast, itemStyle: { color: COLORS.commit } },
          { name: d.actual_name, type: "bar", data: d.actual, itemStyle: { color: COLORS.won } },
          {
            name: d.accuracy_name, type: "line", yAxisIndex: 1, data: d.accuracy, connectNulls: false,
            symbolSize: 7, itemStyle: { color: COLORS.accuracy }
          }
        ]
      };
    },
    calibration: function (d, fmt) {
      var pct = {};
      pct[d.configured_name] = "%";
      pct[d.recalibrated_name] = "%";
      return {
        legend: { top: 0 },
        grid: grid(),
        tooltip: axisTooltip(fmt, pct),
        xAxis: { type: "category", data: d.stages, axisLabel: { interval: 0, hideOverlap: true } },
        yAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
        series: [
          { name: d.configured_name, type: "bar", data: d.configured, itemStyle: { color: COLORS.pipeline } },
          { name: d.recalibrated_name, type: "bar", data: d.recalibrated, itemStyle: { color: COLORS.commit } }
        ]
      };
    }
  };

  var ISLANDS = {
    forecast: "forecast-chart-data",
    accuracy: "forecast-accuracy-data",
    calibration: "forecast-calibration-data"
  };

  function initCharts() {
    if (typeof window.echarts === "undefined") { return; }
    var still = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    var charts = [];
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var kind = el.dataset.chart;
      var island = document.getElementById(ISLANDS[kind] || "");
      if (!island || !builders[kind]) { return; }
      var data = JSON.parse(island.textContent);
      var fmt = formatter(data.locale);
      var option = builders[kind](data, fmt);
      var chart = window.echarts.init(el, null, { locale: data.locale, renderer: "canvas" });
      option.animation = !still;
      chart.setOption(option);
      chart.on("click", function (p) {
        var url = p && p.data && p.data.url;
        if (url) { window.location.assign(url); }
      });
      el.dataset.ready = "1";
      charts.push(chart);
    });
    var pending = null;
    window.addEventListener("resize", function () {
      if (pending) { window.clearTimeout(pending); }
      pending = window.setTimeout(function () { charts.forEach(function (c) { c.resize(); }); }, 120);
    });
  }

  // --- the tree -------------------------------------------------------------------------------

  function rowsOf(table, attr, key) {
    return Array.prototype.filter.call(table.querySelectorAll("tr[data-node]"), function (tr) {
      var v = tr.getAttribute(attr) || "";
      return attr === "data-parent" ? v === key : (" " + v + " ").indexOf(" " + key + " ") !== -1;
    });
  }

  function setIcon(button, open) {
    button.setAttribute("aria-expanded", open ? "true" : "false");
    var icon = button.querySelector(".bi");
    if (icon) {
      icon.classList.toggle("bi-chevron-down", open);
      icon.classList.toggle("bi-chevron-right", !open);
    }
  }

  function collapse(table, key) {
    rowsOf(table, "data-ancestors", key).forEach(function (tr) {
      tr.classList.add("d-none");
      var b = tr.querySelector("[data-toggle-node]");
      if (b) { setIcon(b, false); }
    });
  }

  function expand(table, row, key) {
    rowsOf(table, "data-parent", key).forEach(function (tr) { tr.classList.remove("d-none"); });
  }

  function toggle(button) {
    var row = button.closest("tr");
    var table = button.closest("table");
    var key = button.dataset.toggleNode;
    if (!row || !table || button.dataset.busy === "1") { return; }
    var open = button.getAttribute("aria-expanded") === "true";
    if (open) {
      collapse(table, key);
      setIcon(button, false);
      return;
    }
    if (button.dataset.loaded === "1") {
      expand(table, row, key);
      setIcon(button, true);
      return;
    }
    if (!window.htmx || !button.dataset.src) { return; }
    button.dataset.busy = "1";
    window.htmx.ajax("GET", button.dataset.src, { target: row, swap: "afterend" }).then(function () {
      var ancestors = ((row.getAttribute("data-ancestors") || "") + " " + key).trim();
      rowsOf(table, "data-parent", key).forEach(function (tr) { tr.setAttribute("data-ancestors", ancestors); });
      button.dataset.loaded = "1";
      button.dataset.busy = "0";
      setIcon(button, true);
    }, function () { button.dataset.busy = "0"; });
  }

  function initTree() {
    document.addEventListener("click", function (e) {
      var button = e.target.closest && e.target.closest("[data-toggle-node]");
      if (button) {
        e.preventDefault();
        toggle(button);
      }
    });
    // The adjustment dialog starts from a clean "loading" state each time it opens.
    var modal = document.getElementById("fc-adjust");
    if (modal) {
      modal.addEventListener("hidden.bs.modal", function () {
        var body = document.getElementById("fc-adjust-body");
        var loading = body && body.dataset.loading;
        if (body && loading) { body.innerHTML = loading; }
      });
      var body = document.getElementById("fc-adjust-body");
      if (body) { body.dataset.loading = body.innerHTML; }
    }
  }

  function init() {
    initCharts();
    initTree();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
