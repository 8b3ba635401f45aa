/* A write-a-thon's kiosk (app/routes/kiosk.py), where one supporter after another writes on
   the same computer. "Print my letters" loads the pack into a frame of the preview and opens
   the print dialog on it; "Next person" replaces the preview by an empty form, leaving it out
   of the history, so that Back shows nobody's letters. Without JavaScript the pack downloads,
   and "Next person" is a post answered by a redirect to the empty form. */
(function () {
  "use strict";

  var empty = document.currentScript.getAttribute("data-empty");

  // A page brought back from the back-forward cache would show the last person's letters.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      location.replace(empty);
    }
  });

  var next = document.querySelector("form[data-kiosk-next]");
  if (next) {
    next.addEventListener("submit", function (event) {
      event.preventDefault();
      location.replace(empty);
    });
  }

  var print = document.querySelector("form[data-kiosk-print]");
  var frame = document.getElementById("kiosk-pack");
  if (!print || !frame) {
    return;
  }
  var show = print.querySelector("input[name=show]");
  var waiting = false;
  // "Edit" has formtarget="_self": it leaves the page, whatever the form's target.
  print.addEventListener("submit", function () {
    print.target = frame.name;
    show.disabled = false;
    waiting = true;
  });
  frame.addEventListener("load", function () {
    if (!waiting) {
      return;
    }
    waiting = false;
    var page = frame.contentDocument;
    if (page && page.contentType === "application/pdf") {
      frame.contentWindow.focus();
      frame.contentWindow.print();
      if (next) {
        next.querySelector("button").focus();
      }
      return;
    }
    // Not the letters but a page saying why (the event ended, a limit, a busy moment): the
    // same post again, shown in the window itself; the pack is counted once whatever happens.
    print.removeAttribute("target");
    show.disabled = true;
    print.submit();
  });
}());
