// Pipeline board: drag a card to another column (HTML5 drag and drop) or use the card's "move to" menu
// (keyboard and phones). A move is a POST to the board's move endpoint (JSON answer): moved → the card
// goes to its new column and the totals change; gate → a dialog lists the missing items and offers to
// request a manager's approval; the lost column asks for a reason first. No inline script or style.
(function () {
  "use strict";

  function $(sel, root) { return (root || document).querySelector(sel); }

  function init() {
    var board = $("[data-board]");
    if (!board) { return; }
    var moveUrl = board.dataset.moveUrl;
    var status = $("[data-board-status]");
    var gateEl = $("[data-gate-dialog]");
    var lostEl = $("[data-lost-dialog]");
    var Modal = window.bootstrap && window.bootstrap.Modal;
    var pending = null; // {card, stage, extra}

    function csrf() {
      var input = $("input[name=csrfmiddlewaretoken]");
      return input ? input.value : "";
    }

    function say(text, kind) {
      status.innerHTML = "";
      if (!text) { return; }
      var div = document.createElement("div");
      div.className = "alert alert-" + (kind || "info") + " alert-dismissible fade show py-2 mb-2";
      div.setAttribute("role", kind === "danger" ? "alert" : "status");
      div.textContent = text;
      var close = document.createElement("button");
      close.type = "button";
      close.className = "btn-close py-2";
      close.setAttribute("data-bs-dismiss", "alert");
      close.setAttribute("aria-label", "×");
      div.appendChild(close);
      status.appendChild(div);
    }

    function column(stageId) { return $('[data-column="' + stageId + '"]', board); }
    function dropzone(stageId) { return $('[data-dropzone="' + stageId + '"]', board); }

    function updateTotals(totals) {
      Object.keys(totals || {}).forEach(function (id) {
        var col = column(id);
        if (!col) { return; }
        $("[data-col-count]", col).textContent = totals[id].count;
        $("[data-col-amount]", col).textContent = totals[id].amount;
        var chip = $('[data-jump-count="' + id + '"]');
        if (chip) { chip.textContent = totals[id].count; }
        var zone = $("[data-dropzone]", col);
        var empty = $("[data-empty]", zone);
        if (empty) { empty.hidden = totals[id].count !== "0"; }
      });
    }

    function post(card, stage, extra) {
      var body = new FormData();
      body.append("opportunity", card.dataset.card);
      body.append("to_stage", stage);
      Object.keys(extra || {}).forEach(function (k) { body.append(k, extra[k]); });
      card.classList.add("board-busy");
      return fetch(moveUrl, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { "Accept": "application/json", "X-CSRFToken": csrf() }
      }).then(function (resp) {
        return resp.json().catch(function () { return { status: "error" }; }).then(function (data) {
          data.httpStatus = resp.status;
          return data;
        });
      }).then(function (data) {
        card.classList.remove("board-busy");
        handle(card, stage, extra, data);
      }).catch(function () {
        card.classList.remove("board-busy");
        say(board.dataset.errorText, "danger");
      });
    }

    function handle(card, stage, extra, data) {
      if (data.status === "moved") {
        if (Modal) {
          [gateEl, lostEl].forEach(function (el) { if (el) { Modal.getOrCreateInstance(el).hide(); } });
        }
        var zone = dropzone(stage);
        if (data.shown && data.card && zone) {
          var holder = document.createElement("div");
          holder.innerHTML = data.card.trim();
          var fresh = holder.firstElementChild;
          card.remove();
          zone.insertBefore(fresh, zone.firstChild);
          fresh.classList.add("board-flash");
          window.setTimeout(function () { fresh.classList.remove("board-flash"); }, 1600);
          bindCard(fresh);
        } else {
          card.remove();
        }
        updateTotals(data.totals);
        say(data.message, "success");
        return;
      }
      if (data.status === "gate") {
        openGate(card, stage, data);
        return;
      }
      if (data.status === "approval_requested") {
        if (Modal && gateEl) { Modal.getOrCreateInstance(gateEl).hide(); }
        say(data.message, "info");
        return;
      }
      if (data.status === "invalid" && data.fields && data.fields.close_reason && lostEl) {
        var err = $("[data-lost-error]", lostEl);
        err.textContent = data.fields.close_reason.join(" ");
        err.classList.add("d-block");
        openLost(card, stage);
        return;
      }
      if (data.status === "invalid" && extra && extra.request_approval && gateEl) {
        var gerr = $("[data-gate-error]", gateEl);
        gerr.textContent = data.message || "";
        gerr.classList.add("d-block");
        return;
      }
      say(data.message || board.dataset.errorText, "danger");
    }

    function openGate(card, stage, data) {
      if (!gateEl || !Modal) { say(data.message, "warning"); return; }
      pending = { card: card, stage: stage };
      $("[data-gate-message]", gateEl).textContent = data.message || "";
      var list = $("[data-gate-missing]", gateEl);
      list.innerHTML = "";
      (data.missing || []).forEach(function (m) {
        var li = document.createElement("li");
        li.className = "list-group-item d-flex align-items-center gap-2";
        li.setAttribute("data-missing-item", "");
        var icon = document.createElement("i");
        icon.className = "bi bi-x-circle text-danger";
        icon.setAttribute("aria-hidden", "true");
        li.appendChild(icon);
        li.appendChild(document.createTextNode(m.label));
        list.appendChild(li);
      });
      $("[data-gate-open]", gateEl).href = data.opportunity_url || "#";
      var reason = $("textarea[name=reason]", gateEl);
      reason.value = "";
      var gerr = $("[data-gate-error]", gateEl);
      gerr.textContent = "";
      gerr.classList.remove("d-block");
      Modal.getOrCreateInstance(gateEl).show();
    }

    function openLost(card, stage) {
      if (!lostEl || !Modal) { return; }
      pending = { card: card, stage: stage };
      $("[data-lost-name]", lostEl).textContent = card.dataset.name || "";
      Modal.getOrCreateInstance(lostEl).show();
    }

    function move(card, stage) {
      if (!card || String(card.dataset.stage) === String(stage)) { return; }
      var col = column(stage);
      if (col && col.hasAttribute("data-lost")) {
        var err = lostEl && $("[data-lost-error]", lostEl);
        if (err) { err.textContent = ""; err.classList.remove("d-block"); }
        if (lostEl) { $("select[name=close_reason]", lostEl).value = ""; $("textarea[name=note]", lostEl).value = ""; }
        openLost(card, stage);
        return;
      }
      post(card, stage, {});
    }

    if (gateEl) {
      $("[data-gate-form]", gateEl).addEventListener("submit", function (ev) {
        ev.preventDefault();
        if (!pending) { return; }
        var reason = $("textarea[name=reason]", gateEl).value.trim();
        if (!reason) {
          var gerr = $("[data-gate-error]", gateEl);
          gerr.textContent = board.dataset.reasonText || "";
          gerr.classList.add("d-block");
          return;
        }
        post(pending.card, pending.stage, { request_approval: "1", reason: reason });
      });
      gateEl.addEventListener("hidden.bs.modal", function () { pending = null; });
    }
    if (lostEl) {
      $("[data-lost-form]", lostEl).addEventListener("submit", function (ev) {
        ev.preventDefault();
        if (!pending) { return; }
        var reason = $("select[name=close_reason]", lostEl).value;
        var note = $("textarea[name=note]", lostEl).value;
        post(pending.card, pending.stage, { close_reason: reason, note: note });
      });
    }

    // The "move to" menu: the form's submit (a stage button) and the lost stage's link.
    board.addEventListener("submit", function (ev) {
      var form = ev.target;
      if (!form.matches || !form.matches("[data-move-form]")) { return; }
      ev.preventDefault();
      var stage = ev.submitter && ev.submitter.value;
      move(form.closest("[data-card]"), stage);
    });
    board.addEventListener("click", function (ev) {
      var link = ev.target.closest && ev.target.closest("[data-lost-stage]");
      if (!link) { return; }
      ev.preventDefault();
      move(link.closest("[data-card]"), link.dataset.lostStage);
    });

    // Drag and drop.
    var dragged = null;
    function bindCard(card) {
      if (!card.hasAttribute("data-movable") || card.dataset.bound) { return; }
      card.dataset.bound = "1";
      card.addEventListener("dragstart", function (ev) {
        dragged = card;
        card.classList.add("board-dragging");
        ev.dataTransfer.effectAllowed = "move";
        ev.dataTransfer.setData("text/plain", card.dataset.card);
      });
      card.addEventListener("dragend", function () {
        card.classList.remove("board-dragging");
        dragged = null;
        board.querySelectorAll(".board-drop-over").forEach(function (z) { z.classList.remove("board-drop-over"); });
      });
    }
    board.querySelectorAll("[data-card]").forEach(bindCard);
    document.body.addEventListener("htmx:afterSwap", function (ev) {
      var target = ev.detail && ev.detail.target;
      var zone = target && target.closest ? target.closest("[data-dropzone]") : null;
      (zone || board).querySelectorAll("[data-card]").forEach(bindCard);
    });

    // While dragging near the board's left or right edge, scroll it (the columns overflow sideways).
    board.addEventListener("dragover", function (ev) {
      if (!dragged) { return; }
      var rect = board.getBoundingClientRect();
      var edge = Math.min(80, rect.width / 6);
      if (ev.clientX > rect.right - edge) { board.scrollLeft += 18; }
      else if (ev.clientX < rect.left + edge) { board.scrollLeft -= 18; }
    });

    board.querySelectorAll("[data-dropzone]").forEach(function (zone) {
      zone.addEventListener("dragover", function (ev) {
        if (!dragged) { return; }
        ev.preventDefault();
        ev.dataTransfer.dropEffect = "move";
        zone.classList.add("board-drop-over");
      });
      zone.addEventListener("dragleave", function (ev) {
        if (!zone.contains(ev.relatedTarget)) { zone.classList.remove("board-drop-over"); }
      });
      zone.addEventListener("drop", function (ev) {
        ev.preventDefault();
        zone.classList.remove("board-drop-over");
        var id = ev.dataTransfer.getData("text/plain");
        var card = dragged || (id && $('[data-card="' + id + '"]', board));
        if (card) { move(card, zone.dataset.dropzone); }
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
