// Phone check-in for a planned visit: <button data-checkin-url="..." data-msg-*="...">.
// Asks the browser for its position and posts lat/lng/accuracy_m to the check-in endpoint.
// When the rep refuses (or there is no GPS), it checks in anyway with the time only and says so.
(function () {
  "use strict";

  function csrfToken() {
    try {
      var headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
      if (headers["X-CSRFToken"]) { return headers["X-CSRFToken"]; }
    } catch (e) { /* fall back to the cookie */ }
    var m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  function statusBox(button) {
    var card = button.closest(".card-body") || document;
    return card.querySelector("[data-checkin-status]") || document.querySelector("[data-checkin-status]");
  }

  function say(button, text, kind) {
    var box = statusBox(button);
    if (!box) { return; }
    box.textContent = text;
    box.className = "small mt-2 " + (kind === "error" ? "text-danger" : kind === "warn" ? "text-warning-emphasis" : "text-body-secondary");
  }

  function post(button, coords, note) {
    var body = new FormData();
    if (coords) {
      body.append("lat", String(coords.latitude));
      body.append("lng", String(coords.longitude));
      body.append("accuracy_m", String(Math.round(coords.accuracy || 0)));
    }
    if (note) { say(button, note, "warn"); }
    return fetch(button.dataset.checkinUrl, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json" }
    }).then(function (resp) {
      return resp.json().catch(function () { return { ok: false }; }).then(function (data) {
        if (resp.ok && data.ok) {
          window.location.assign(data.next || window.location.href);
          return;
        }
        say(button, data.message || button.dataset.msgFailed, "error");
        button.disabled = false;
      });
    }).catch(function () {
      say(button, button.dataset.msgFailed, "error");
      button.disabled = false;
    });
  }

  function checkIn(button) {
    button.disabled = true;
    if (!("geolocation" in navigator)) {
      post(button, null, button.dataset.msgUnavailable);
      return;
    }
    say(button, button.dataset.msgLocating, "info");
    navigator.geolocation.getCurrentPosition(
      function (pos) { post(button, pos.coords, ""); },
      function (err) {
        var denied = err && err.code === 1; // PERMISSION_DENIED
        post(button, null, denied ? button.dataset.msgDenied : button.dataset.msgUnavailable);
      },
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
    );
  }

  document.addEventListener("click", function (ev) {
    var button = ev.target.closest && ev.target.closest("[data-checkin-url]");
    if (button && !button.disabled) {
      ev.preventDefault();
      checkIn(button);
    }
  });
})();
