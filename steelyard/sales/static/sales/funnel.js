// Funnel charts: ECharts initialised from the page's JSON data island (#funnel-data). No inline script
// or style under the CSP: labels come translated from the server, tooltips are plain text built here,
// and a click on a funnel slice or a bar opens the list of the deals behind it (each datum has its url).
(function () {
  "use strict";

  var PALETTE = ["#1d4ed8", "#2563eb", "#0891b2", "#0d9488", "#16a34a", "#ca8a04", "#64748b"];

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
      }
    };
  }

  function grid() { return { left: 8, right: 16, top: 30, bottom: 8, containLabel: true }; }

  function axisTooltip(fmt, digits) {
    return {
      trigger: "axis",
      axisPointer: { type: "shadow" },
      formatter: function (items) {
        if (!items || !items.length) { return ""; }
        var lines = [esc(items[0].axisValueLabel)];
        items.forEach(function (it) {
          lines.push(esc(it.seriesName) + ": " + esc(fmt.number(it.value, digits)));
        });
        return lines.join("<br>");
      }
    };
  }

  function build(kind, data, fmt) {
    var t = data.text;
    switch (kind) {
      case "funnel":
        return {
          color: PALETTE,
          tooltip: {
            trigger: "item",
            formatter: function (p) {
              return esc(p.name) + "<br>" + esc(t.deals) + ": " + esc(fmt.number(p.value)) +
                "<br>" + esc(t.amount) + ": " + esc(fmt.number(p.data.amount));
            }
          },
          series: [{
            type: "funnel", sort: "none", left: "8%", width: "84%", top: 8, bottom: 8, minSize: "12%", gap: 2,
            label: { show: true, position: "inside", formatter: function (p) { return p.name + " " + fmt.number(p.value); } },
            data: data.funnel.map(function (d) { return d; })
          }]
        };
      case "reached":
        return {
          color: ["#1d4ed8"],
          grid: grid(),
          tooltip: axisTooltip(fmt, 0),
          xAxis: { type: "category", data: data.reached.stages, axisLabel: { interval: 0, hideOverlap: true } },
          yAxis: { type: "value", minInterval: 1 },
          series: [{ name: t.reached, type: "bar", data: data.reached.values }]
        };
      case "velocity":
        return {
          color: ["#0891b2"],
          grid: grid(),
          tooltip: axisTooltip(fmt, 1),
          xAxis: { type: "category", data: data.velocity.stages, axisLabel: { interval: 0, hideOverlap: true } },
          yAxis: { type: "value" },
          series: [{ name: t.days, type: "bar", data: data.velocity.values }]
        };
      case "lines":
        return {
          color: ["#16a34a", "#f87171"],
          legend: { top: 0 },
          grid: grid(),
          tooltip: axisTooltip(fmt, 0),
          xAxis: { type: "category", data: data.lines.labels },
          yAxis: { type: "value", minInterval: 1 },
          series: [
            { name: t.won, type: "bar", stack: "closed", data: data.lines.won },
            { name: t.lost, type: "bar", stack: "closed", data: data.lines.lost }
          ]
        };
    }
    return null;
  }

  function init() {
    var island = document.getElementById("funnel-data");
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
