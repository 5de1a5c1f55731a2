// API tokens page: copy the freshly issued token (no inline script under our CSP).
(function () {
  "use strict";
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest && ev.target.closest("[data-copy-target]");
    if (!btn) { return; }
    var input = document.querySelector(btn.dataset.copyTarget);
    if (!input) { return; }
    input.select();
    var done = function () { btn.textContent = btn.dataset.copiedLabel || "OK"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });
  document.addEventListener("focusin", function (ev) {
    if (ev.target.matches && ev.target.matches("[data-select-on-focus]")) { ev.target.select(); }
  });
})();
