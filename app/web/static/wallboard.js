// The wallboard's behaviours (no inline scripts: the CSP allows none). Generic pieces live on
// window.Switchboard so other pages (the agent's desk) reuse them:
//   Switchboard.countdowns(root) - every [data-due] (an RFC 3339 instant) under root shows the
//     time left as m:ss or h:mm:ss, negative ("−1:05") and marked .overdue once past; every
//     [data-since] shows the time since. One timer ticks them all each second; elements
//     swapped in by htmx are picked up on their own.
(function () {
  "use strict";
  var Switchboard = window.Switchboard = window.Switchboard || {};

  function clock(seconds) {
    var total = Math.floor(Math.abs(seconds));
    var hours = Math.floor(total / 3600);
    var minutes = Math.floor((total % 3600) / 60);
    var secs = total % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    var text = hours ? hours + ":" + pad(minutes) + ":" + pad(secs) : minutes + ":" + pad(secs);
    return seconds < 0 ? "\u2212" + text : text;
  }
  Switchboard.formatSeconds = clock;

  function tick(root) {
    var now = Date.now();
    root.querySelectorAll("[data-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-due"));
      if (isNaN(due)) { return; }
      var left = Math.round((due - now) / 1000);
      el.textContent = clock(left);
      el.classList.toggle("overdue", left < 0);
    });
    root.querySelectorAll("[data-since]").forEach(function (el) {
      var since = Date.parse(el.getAttribute("data-since"));
      if (isNaN(since)) { return; }
      el.textContent = clock(Math.max(0, Math.round((now - since) / 1000)));
    });
  }

  var roots = [];
  var timer = null;
  Switchboard.countdowns = function (root) {
    root = root || document;
    if (roots.indexOf(root) < 0) { roots.push(root); }
    tick(root);
    if (timer === null) {
      timer = window.setInterval(function () {
        roots = roots.filter(function (r) { return r === document || document.contains(r); });
        roots.forEach(tick);
      }, 1000);
    }
  };

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

  document.addEventListener("DOMContentLoaded", function () {
    Switchboard.countdowns(document);
    startTv();
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    tick(event.target);
    var board = document.getElementById("wallboard-tv");
    if (board) { show(board); }
  });
})();
