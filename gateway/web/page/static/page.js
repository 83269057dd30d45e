// door-gateway status page: the only script. Every page works without it; it only
// refreshes the parts marked data-live="URL" every few seconds, from the daemon itself.
"use strict";
(function () {
  var PERIOD_MS = 3000;
  function busy(box) {
    // Never pull a form away from the technician: an open confirmation or a focused
    // control keeps the box as it is until they are done.
    return box.querySelector("details[open]") !== null || box.contains(document.activeElement);
  }
  function refresh(box) {
    if (document.hidden || busy(box)) { return; }
    fetch(box.getAttribute("data-live"), { credentials: "same-origin", cache: "no-store" })
      .then(function (answer) {
        if (answer.status === 401 || answer.status === 403) { window.location.reload(); return null; }
        return answer.ok ? answer.text() : null;
      })
      .then(function (html) {
        if (html !== null && !busy(box)) {
          box.innerHTML = html;
          box.setAttribute("data-refreshed", String(Date.now()));
        }
      })
      .catch(function () { box.setAttribute("data-stale", "1"); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var boxes = document.querySelectorAll("[data-live]");
    Array.prototype.forEach.call(boxes, function (box) {
      window.setInterval(function () { refresh(box); }, PERIOD_MS);
    });
  });
})();
