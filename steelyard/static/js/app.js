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
  document.addEventListener("DOMContentLoaded", function () { paintProgress(document); });
  document.addEventListener("htmx:afterSwap", function (ev) { paintProgress(ev.detail.target.parentNode || document); });
  window.steelyard = { paintProgress: paintProgress };
})();
