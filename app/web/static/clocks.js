// Clocks that tick every second between live refreshes: data-due="<ISO instant>" counts down to
// a deadline (and up, marked overdue, once it has passed), data-since="<ISO instant>" and
// data-elapsed="<seconds at render>" count up. Shared by the desk and the wallboard.
(function () {
  "use strict";

  function clock(totalSeconds) {
    var s = Math.max(0, Math.floor(totalSeconds));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    var mm = (h ? String(m).padStart(2, "0") : String(m)) + ":" + String(r).padStart(2, "0");
    return h ? h + ":" + mm : mm;
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-due"));
      if (isNaN(due)) { return; }
      var left = (due - now) / 1000;
      el.textContent = left >= 0 ? clock(left) : "−" + clock(-left);
      el.classList.toggle("overdue", left < 0);
      el.classList.toggle("soon", left >= 0 && left < 300);
    });
    document.querySelectorAll("[data-since]").forEach(function (el) {
      var since = Date.parse(el.getAttribute("data-since"));
      if (!isNaN(since)) { el.textContent = clock((now - since) / 1000); }
    });
    document.querySelectorAll("[data-elapsed]").forEach(function (el) {
      if (!el.hasAttribute("data-elapsed-at")) { el.setAttribute("data-elapsed-at", String(now)); }
      var base = parseFloat(el.getAttribute("data-elapsed"));
      var at = parseFloat(el.getAttribute("data-elapsed-at"));
      if (!isNaN(base)) { el.textContent = clock(base + (now - at) / 1000); }
    });
  }
  window.Switchboard = window.Switchboard || {};
  window.Switchboard.tickClocks = tick;
  document.addEventListener("DOMContentLoaded", function () {
    tick();
    window.setInterval(tick, 1000);
  });
  document.addEventListener("htmx:afterSettle", tick);
})();
