// Switchboard's page behaviours: no inline scripts (the CSP allows none), so each page marks
// what it needs with data- attributes and this file wires it up, also after htmx swaps.
(function () {
  "use strict";

  // A <select data-autosubmit> submits its form when changed (language, filters).
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches && target.matches("[data-autosubmit]") && target.form) {
      target.form.requestSubmit ? target.form.requestSubmit() : target.form.submit();
    }
  });

  // A form or button with data-confirm asks first (offboard, close a month).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  }, true);

  // A 422 answers the form again with each error beside its field, and a 409 with why it could
  // not be done (the desk's Next): htmx swaps them in like a success (it leaves 4xx answers
  // out by default), so the message shows where it belongs.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr && event.detail.xhr.status;
    if (status === 422 || status === 409) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // Charts: a <canvas data-chart="id"> reads its Chart.js configuration from its own
  // data-chart-config attribute or, in a page htmx never swaps, from a
  // <script type="application/json" id="..."> block the server rendered (htmx removes every
  // <script> from the content it swaps in, those blocks included).
  var charts = new Map();
  function drawCharts(root) {
    if (typeof window.Chart === "undefined") { return; }
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var text = canvas.getAttribute("data-chart-config");
      if (!text) {
        var source = document.getElementById(canvas.getAttribute("data-chart"));
        if (!source) { return; }
        text = source.textContent;
      }
      var config = JSON.parse(text);
      config.options = config.options || {};
      config.options.responsive = true;
      config.options.maintainAspectRatio = false;
      config.options.animation = false;
      if (charts.has(canvas)) { charts.get(canvas).destroy(); }
      charts.set(canvas, new window.Chart(canvas, config));
    });
  }
  // Other scripts (wallboard.js) add their own pieces to the same namespace.
  window.Switchboard = window.Switchboard || {};
  window.Switchboard.drawCharts = drawCharts;
  document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
  document.addEventListener("htmx:afterSettle", function (event) { drawCharts(event.target); });
})();

// Reports (portal dashboard and monthly report): a button with data-print prints the page.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-print]") : null;
    if (button) {
      event.preventDefault();
      window.print();
    }
  });
})();
