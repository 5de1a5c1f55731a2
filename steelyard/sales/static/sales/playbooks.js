// Playbook screens: confirm a submit button's own question (the form also has a preview button that
// must not ask), and re-load the move page when another target version is chosen.
(function () {
  "use strict";
  document.addEventListener("submit", function (ev) {
    var button = ev.submitter;
    if (button && button.dataset && button.dataset.confirmSubmit && !window.confirm(button.dataset.confirmSubmit)) {
      ev.preventDefault();
    }
  }, true);
})();
