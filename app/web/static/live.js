// Live updates for pages (app/web/live.py). A page opts in with one element carrying
// data-live-stream="/live": this file opens one EventSource to it and turns each server-sent
// event N into a DOM event "live-N" on document.body (detail: the event's data), so that htmx
// elements refresh themselves with hx-trigger="live-contact from:body throttle:1s".
// "resync" and every reconnect fire both live-contact and live-agent (changes may have been
// missed). When the stream cannot stay open (refused over the server's cap, or failing again
// and again) the page polls instead: live-contact and live-agent every 3 s, and the stream is
// tried again a minute later. The element's data-live-state says which: "live" or "polling".
(function () {
  "use strict";

  var POLL_MS = 3000;
  var RETRY_STREAM_MS = 60000;
  var ERRORS_BEFORE_POLLING = 3;
  var KINDS = ["contact", "agent", "resync", "bye"];

  function fire(kind, detail) {
    document.body.dispatchEvent(new CustomEvent("live-" + kind, { detail: detail || {} }));
  }

  function refreshAll() {
    fire("contact", {});
    fire("agent", {});
  }

  function start(element) {
    var url = element.getAttribute("data-live-stream");
    var source = null;
    var opened = false;
    var errors = 0;
    var pollTimer = null;
    var retryTimer = null;

    function setState(state) { element.setAttribute("data-live-state", state); }

    function poll() {
      if (source) { source.close(); source = null; }
      setState("polling");
      if (pollTimer === null) { pollTimer = window.setInterval(refreshAll, POLL_MS); }
      if (retryTimer === null) {
        retryTimer = window.setTimeout(function () { retryTimer = null; connect(); }, RETRY_STREAM_MS);
      }
    }

    function connect() {
      if (!document.body.contains(element)) { return; }  // the page moved on
      errors = 0;
      source = new EventSource(url, { withCredentials: true });
      source.addEventListener("open", function () {
        errors = 0;
        setState("live");
        if (pollTimer !== null) { window.clearInterval(pollTimer); pollTimer = null; }
        // A reconnect (or the end of polling): whatever happened meanwhile is read again.
        if (opened) { refreshAll(); }
        opened = true;
      });
      KINDS.forEach(function (kind) {
        source.addEventListener(kind, function (event) {
          var detail = {};
          try { detail = JSON.parse(event.data || "{}"); } catch (ignored) { detail = {}; }
          if (kind === "resync") { refreshAll(); }
          fire(kind, detail);
        });
      });
      source.addEventListener("error", function () {
        errors += 1;
        // CLOSED: the browser gave up (a 503 over the cap, a page that is not a stream);
        // otherwise it reconnects by itself, unless that keeps failing.
        if (source.readyState === EventSource.CLOSED || errors >= ERRORS_BEFORE_POLLING) {
          poll();
        }
      });
    }

    connect();
    return function stop() {
      if (source) { source.close(); source = null; }
      if (pollTimer !== null) { window.clearInterval(pollTimer); pollTimer = null; }
      if (retryTimer !== null) { window.clearTimeout(retryTimer); retryTimer = null; }
    };
  }

  var current = null;  // {element, stop}: the page's one stream

  // Open the page's stream if it has an element asking for one and none is open yet; also
  // after htmx swapped content in (a page part that brings the element with it, or takes it
  // away: its stream is then closed).
  function scan() {
    if (current && !document.body.contains(current.element)) {
      current.stop();
      current = null;
    }
    var element = document.querySelector("[data-live-stream]");
    if (!element || (current && current.element === element)) { return; }
    if (current) { current.stop(); }
    if (typeof window.EventSource !== "undefined") {
      current = { element: element, stop: start(element) };
    } else {
      element.setAttribute("data-live-state", "polling");
      var timer = window.setInterval(refreshAll, POLL_MS);
      current = { element: element, stop: function () { window.clearInterval(timer); } };
    }
  }

  window.Switchboard = window.Switchboard || {};
  window.Switchboard.live = { scan: scan };
  document.addEventListener("DOMContentLoaded", scan);
  document.addEventListener("htmx:afterSettle", scan);
})();
