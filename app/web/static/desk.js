// The agent's desk: keyboard shortcuts and the clocks that tick between live refreshes.
// No inline scripts (the CSP allows none): the page marks what it needs with data- attributes.
(function () {
  "use strict";

  // A key press does what the element marked data-key="<key>" does (a button is clicked, a
  // <summary> opens its form and focuses its first field); data-key-focus="<key>" focuses a
  // field. Never while the agent types, nor with a modifier (the browser's own shortcuts).
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) { return; }
    var target = event.target;
    if (target.closest && target.closest("input, textarea, select, [contenteditable]")) { return; }
    var key = (event.key || "").toLowerCase();
    if (key.length !== 1) { return; }
    var field = document.querySelector('[data-key-focus="' + key + '"]');
    if (field) {
      event.preventDefault();
      field.focus();
      return;
    }
    var element = document.querySelector('[data-key="' + key + '"]');
    if (!element) { return; }
    event.preventDefault();
    if (element.tagName === "SUMMARY") {
      var details = element.parentElement;
      details.open = true;
      var first = details.querySelector("select, input:not([type=hidden]), textarea");
      if (first) { first.focus(); }
      return;
    }
    element.click();
  });
})();
