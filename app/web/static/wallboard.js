// The wallboard's behaviours (no inline scripts: the CSP allows none): TV mode's rotation and
// full screen, and a reassign form kept from a refresh. Clocks tick in clocks.js.
(function () {
  "use strict";

  // A refresh would wipe a reassign form being filled in: it waits until the form is left.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var target = event.detail.elt;
    if (!target || !target.matches || !target.matches("[data-wallboard-urgent]")) { return; }
    var active = document.activeElement;
    var chosen = Array.prototype.some.call(target.querySelectorAll("select"), function (s) {
      return s.value !== "";
    });
    if (event.detail.requestConfig && event.detail.requestConfig.verb !== "get") { return; }
    if ((active && target.contains(active) && active.tagName === "SELECT") || chosen) {
      event.preventDefault();
    }
  });

  // TV mode: one firm at a time, the next every data-rotate seconds; a refresh keeps the
  // firm on screen (by id) rather than starting over.
  var current = null;
  var rotation = null;
  function show(board) {
    var panels = board.querySelectorAll("[data-tv-firm]");
    if (!panels.length) { return; }
    var ids = Array.prototype.map.call(panels, function (p) { return p.getAttribute("data-tv-firm"); });
    if (ids.indexOf(current) < 0) { current = ids[0]; }
    panels.forEach(function (p) { p.hidden = p.getAttribute("data-tv-firm") !== current; });
  }
  function rotate() {
    var board = document.getElementById("wallboard-tv");
    if (!board) { return; }
    var panels = board.querySelectorAll("[data-tv-firm]");
    var ids = Array.prototype.map.call(panels, function (p) { return p.getAttribute("data-tv-firm"); });
    if (!ids.length) { return; }
    current = ids[(ids.indexOf(current) + 1) % ids.length];
    show(board);
  }
  function startTv() {
    var board = document.getElementById("wallboard-tv");
    if (!board) { return; }
    show(board);
    if (rotation === null) {
      var seconds = parseInt(board.getAttribute("data-rotate"), 10) || 15;
      rotation = window.setInterval(rotate, seconds * 1000);
    }
  }

  // The Fullscreen API, on a button with data-fullscreen (a page may only ask on a click).
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-fullscreen]") : null;
    if (!button) { return; }
    var root = document.documentElement;
    if (document.fullscreenElement) {
      document.exitFullscreen();
    } else if (root.requestFullscreen) {
      root.requestFullscreen().catch(function () {});
    }
  });

  document.addEventListener("DOMContentLoaded", startTv);
  document.addEventListener("htmx:afterSettle", function () {
    var board = document.getElementById("wallboard-tv");
    if (board) { show(board); }
  });
})();
