// Tier analytics charts: ECharts initialised from the page's JSON data island (#tier-analytics-data).
// No inline script or style under the CSP: labels come translated from the server, tooltips are plain
// text built here (ECharts' default tooltip markup carries style attributes), and a click on any bar,
// slice or flow opens the drill-down list of the customers behind it (each datum carries its url).
(function () {
  "use strict";

  var PALETTE = ["#1d4ed8", "#0891b2", "#16a34a", "#ca8a04", "#9333ea", "#dc2626", "#64748b"];

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

  function axisTooltip(fmt, digits, suffix) {
    return {
      trigger: "axis",
      axisPointer: { type: "shadow" },
      formatter: function (items) {
        if (!items || !items.length) { return ""; }
        var lines = [esc(items[0].axisValueLabel)];
        items.forEach(function (it) {
          lines.push(esc(it.seriesName) + ": " + esc(fmt.number(it.value, digits)) + (suffix || ""));
        });
        return lines.join("<br>");
      }
    };
  }

  function grid() { return { left: 8, right: 12, top: 36, bottom: 8, containLabel: true }; }

  function build(kind, data, fmt) {
    var t = data.text;
    switch (kind) {
      case "share":
        return {
          color: PALETTE,
          legend: { top: 0 },
          grid: grid(),
          tooltip: axisTooltip(fmt, 1, "%"),
          xAxis: { type: "category", data: data.distribution.tiers },
          yAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" } },
          series: [
            { name: t.customers_share, type: "bar", data: data.distribution.customers_pct },
            { name: t.revenue_share, type: "bar", data: data.distribution.revenue_pct }
          ]
        };
      case "revenue-pie":
        return {
          color: PALETTE,
          tooltip: {
            trigger: "item",
            formatter: function (p) {
              return esc(p.name) + "<br>" + esc(t.revenue) + ": " + esc(fmt.number(p.value)) + " (" + esc(fmt.number(p.percent, 1)) + "%)";
            }
          },
          legend: { bottom: 0, type: "scroll" },
          series: [{
            name: t.revenue, type: "pie", radius: ["35%", "65%"], center: ["50%", "45%"],
            label: { formatter: "{b}\n{d}%" },
            data: data.distribution.revenue
          }]
        };
      case "growth":
        return {
          color: ["#94a3b8", "#1d4ed8"],
          legend: { top: 0 },
          grid: grid(),
          tooltip: axisTooltip(fmt, 0),
          xAxis: { type: "category", data: data.growth.tiers },
          yAxis: { type: "value", axisLabel: { formatter: fmt.compact } },
          series: [
            { name: t.previous, type: "bar", data: data.growth.previous },
            { name: t.current, type: "bar", data: data.growth.current }
          ]
        };
      case "retention":
        return {
          color: ["#16a34a", "#f87171"],
          legend: { top: 0 },
          grid: grid(),
          tooltip: axisTooltip(fmt, 0),
          xAxis: { type: "category", data: data.retention.tiers },
          yAxis: { type: "value", minInterval: 1 },
          series: [
            { name: t.retained, type: "bar", stack: "buyers", data: data.retention.retained },
            { name: t.lost, type: "bar", stack: "buyers", data: data.retention.lost }
          ]
        };
      case "sankey":
        var labels = {};
        data.migration.sankey.nodes.forEach(function (n) { labels[n.name] = n.label; });
        return {
          color: PALETTE,
          tooltip: {
            trigger: "item",
            formatter: function (p) {
              if (p.dataType === "edge") {
                return esc(labels[p.data.source]) + " → " + esc(labels[p.data.target]) + ": " + esc(fmt.number(p.value));
              }
              return esc(labels[p.name]) + ": " + esc(fmt.number(p.value));
            }
          },
          series: [{
            type: "sankey", left: 8, right: 72, top: 8, bottom: 8, nodeGap: 10,
            emphasis: { focus: "adjacency" },
            lineStyle: { color: "gradient", curveness: 0.5, opacity: 0.35 },
            label: { formatter: function (p) { return labels[p.name] || p.name; } },
            data: data.migration.sankey.nodes.map(function (n) { return { name: n.name }; }),
            links: data.migration.sankey.links
          }]
        };
      case "runs":
        return {
          color: PALETTE,
          legend: { top: 0, type: "scroll" },
          grid: grid(),
          tooltip: axisTooltip(fmt, 0),
          xAxis: { type: "category", data: data.migration.runs },
          yAxis: { type: "value", minInterval: 1 },
          series: data.migration.series.map(function (s) {
            return { name: s.name, type: "bar", stack: "tiers", data: s.data };
          })
        };
      case "visits":
        return {
          color: ["#cbd5e1", "#0891b2"],
          legend: { top: 0 },
          grid: grid(),
          tooltip: axisTooltip(fmt, 1),
          xAxis: { type: "category", data: data.visits.tiers },
          yAxis: { type: "value" },
          series: [
            { name: t.required, type: "bar", data: data.visits.required },
            { name: t.done, type: "bar", data: data.visits.done }
          ]
        };
    }
    return null;
  }

  function init() {
    var island = document.getElementById("tier-analytics-data");
    if (!island || typeof window.echarts === "undefined") { return; }
    var data = JSON.parse(island.textContent);
    var fmt = formatter(data.locale);
    var still = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    var charts = [];
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var option = build(el.dataset.chart, data, fmt);
      if (!option) { return; }
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

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
