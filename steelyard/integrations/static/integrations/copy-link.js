// "Share status link" on the order page: copy the link to the clipboard (no inline script under our CSP).
(function () {
  "use strict";
  if (window.steelyardCopyLink) { return; }
  window.steelyardCopyLink = true;
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest && ev.target.closest("[data-copy-link]");
    if (!btn) { return; }
    var input = document.getElementById(btn.dataset.copyLink);
    if (!input) { return; }
    input.select();
    var done = function () { btn.querySelector("span").textContent = btn.dataset.copiedLabel || "OK"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });
  document.addEventListener("focusin", function (ev) {
    if (ev.target.matches && ev.target.matches("[data-copy-source]")) { ev.target.select(); }
  });
})();
