// Small behaviours the CSP-strict pages need without inline script.
(function () {
  "use strict";
  // Progress bars: width comes from data-percent (no inline style attributes under our CSP).
  function paintProgress(root) {
    root.querySelectorAll("[data-percent]").forEach(function (el) {
      el.style.width = Math.max(0, Math.min(100, Number(el.dataset.percent) || 0)) + "%";
    });
  }
  // Confirm destructive actions: <form data-confirm="Are you sure?">.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      ev.preventDefault();
    }
  }, true);
  // Auto-submit filter forms when a select changes: <select data-autosubmit>.
  document.addEventListener("change", function (ev) {
    if (ev.target.matches && ev.target.matches("[data-autosubmit]")) { ev.target.form.requestSubmit(); }
  });
  // "/" focuses the global search box, as in most web apps.
  document.addEventListener("keydown", function (ev) {
    var t = ev.target;
    if (ev.key !== "/" || ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) { return; }
    var box = document.getElementById("globalSearch");
    if (box) { ev.preventDefault(); box.focus(); }
  });
  // Installable app: register the service worker (its URL comes from this script tag's data-sw).
  var me = document.currentScript;
  function registerServiceWorker() {
    var url = me && me.dataset.sw;
    if (!url || !("serviceWorker" in navigator) || !window.isSecureContext) { return; }
    navigator.serviceWorker.register(url, { scope: "/" }).catch(function () { /* optional feature */ });
  }
  document.addEventListener("DOMContentLoaded", function () { paintProgress(document); });
  window.addEventListener("load", registerServiceWorker);
  document.addEventListener("htmx:afterSwap", function (ev) { paintProgress(ev.detail.target.parentNode || document); });
  window.steelyard = { paintProgress: paintProgress };
})();
