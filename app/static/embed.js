/* In the form framed on an organisation's site (/embed): tells the framing page how tall this
   page is, whenever that changes, so that it sizes the frame and the frame never scrolls. Told
   only to the site the snippet named (data-parent), never to "*"; the snippet's script checks
   that the message comes from this service. Without JavaScript the frame keeps its own height. */
(function () {
  "use strict";

  var script = document.currentScript;
  var parentOrigin = script && script.getAttribute("data-parent");
  if (!parentOrigin || window.parent === window) {
    return;
  }
  var told = 0;
  var page = true;

  function tell() {
    var height = Math.ceil(document.documentElement.getBoundingClientRect().height);
    if (height === told) {
      return;
    }
    told = height;
    window.parent.postMessage(
      { type: "letter-campaign:height", height: height, page: page },
      parentOrigin
    );
    page = false;
  }

  tell();
  if (window.ResizeObserver) {
    new ResizeObserver(tell).observe(document.documentElement);
  } else {
    window.addEventListener("resize", tell);
  }
  window.addEventListener("load", tell);
})();
