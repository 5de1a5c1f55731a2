// Framework agreement: planned vs ordered quantity per period, an ECharts bar chart initialised from the
// page's JSON data island (#agreement-chart-data). No inline script or style under the CSP; tooltips are
// plain text built here (escaped).
(function () {
  "use strict";

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function init() {
    var island = document.getElementById("agreement-chart-data");
    var el = document.querySelector("[data-agreement-chart]");
    if (!island || !el || !window.echarts) { return; }
    var data = JSON.parse(island.textContent);
    var tag = data.locale === "EN" ? "en" : "zh-CN";
    var num = function (v) { return Number(v || 0).toLocaleString(tag, { maximumFractionDigits: 2 }); };
    var chart = window.echarts.init(el, null, { locale: data.locale, renderer: "canvas" });
    var still = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    chart.setOption({
      animation: !still,
      color: ["#94a3b8", "#1d4ed8"],
      legend: { top: 0 },
      grid: { left: 8, right: 12, top: 36, bottom: 8, containLabel: true },
      tooltip: {
        trigger: "axis",
        axisPointer: { type: "shadow" },
        formatter: function (items) {
          if (!items || !items.length) { return ""; }
          var lines = [esc(items[0].axisValueLabel)];
          items.forEach(function (it) { lines.push(esc(it.seriesName) + ": " + esc(num(it.value))); });
          return lines.join("<br>");
        }
      },
      xAxis: { type: "category", data: data.periods },
      yAxis: { type: "value", name: data.text.quantity },
      series: [
        { name: data.text.planned, type: "bar", data: data.planned },
        { name: data.text.actual, type: "bar", data: data.actual }
      ]
    });
    el.setAttribute("data-ready", "1");
    var pending = null;
    window.addEventListener("resize", function () {
      window.clearTimeout(pending);
      pending = window.setTimeout(function () { chart.resize(); }, 120);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
