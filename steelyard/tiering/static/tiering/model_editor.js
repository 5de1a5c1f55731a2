// The tier-model editor: add tier / factor rows (Django formset templates), add and remove band rows, and
// the unit hint of a factor. CSP-strict: a static file, no inline handlers. Without it the page still works
// (remove with the "Remove" box; two empty band rows are always offered).
(function () {
  "use strict";
  var units = {};

  function reveal(root) {
    root.querySelectorAll("[data-formset-add], [data-band-add], [data-band-remove]").forEach(function (el) {
      el.classList.remove("d-none");
    });
  }

  function addFormsetRow(prefix) {
    var template = document.getElementById(prefix + "-empty");
    var rows = document.getElementById(prefix + "-rows");
    var total = document.getElementById("id_" + prefix + "-TOTAL_FORMS");
    if (!template || !rows || !total) { return; }
    var index = Number(total.value) || 0;
    var html = template.innerHTML.split("__prefix__").join(String(index));
    rows.insertAdjacentHTML("beforeend", html);
    total.value = String(index + 1);
    var added = rows.lastElementChild;
    if (added) {
      reveal(added);
      var first = added.querySelector("input:not([type=hidden]), select");
      if (first) { first.focus(); }
    }
  }

  function addBand(button) {
    var box = button.closest("[data-bands]");
    if (!box) { return; }
    var template = box.querySelector(":scope > template[data-band-template]");
    var rows = box.querySelector("[data-band-rows]");
    if (!template || !rows) { return; }
    rows.insertAdjacentHTML("beforeend", template.innerHTML);
    var added = rows.lastElementChild;
    if (added) {
      reveal(added);
      var input = added.querySelector("input");
      if (input) { input.focus(); }
    }
  }

  function showUnit(select) {
    var row = select.closest("[data-factor-row]");
    var hint = row && row.querySelector("[data-unit]");
    if (!hint) { return; }
    var unit = units[select.value];
    hint.textContent = unit ? (hint.dataset.prefix || "") + unit : "";
  }

  document.addEventListener("click", function (ev) {
    var add = ev.target.closest("[data-formset-add]");
    if (add) { ev.preventDefault(); addFormsetRow(add.dataset.formsetAdd); return; }
    var band = ev.target.closest("[data-band-add]");
    if (band) { ev.preventDefault(); addBand(band); return; }
    var remove = ev.target.closest("[data-band-remove]");
    if (remove) {
      ev.preventDefault();
      var row = remove.closest("[data-band-row]");
      if (row) { row.remove(); }
    }
  });

  document.addEventListener("change", function (ev) {
    if (ev.target.matches && ev.target.matches("[data-factor-row] select[name$='-code']")) { showUnit(ev.target); }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var island = document.getElementById("tier-factor-units");
    if (island) {
      try { units = JSON.parse(island.textContent) || {}; } catch (e) { units = {}; }
    }
    var form = document.getElementById("tier-model-form");
    if (form) { reveal(form); }
  });
})();
