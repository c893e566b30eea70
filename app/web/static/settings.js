// The settings pages: a form htmx posts may be answered 422 with each error beside its field;
// htmx leaves 4xx answers unswapped unless told, so the answer (a row, a form) replaces the old.
(function () {
  "use strict";
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr && event.detail.xhr.status === 422) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
