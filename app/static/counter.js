/* Keeps the public counter current while the page is open. The page already shows the right
   number without JavaScript; this only fetches /api/stats now and then. */
(function () {
  "use strict";

  var counters = document.querySelectorAll("[data-stats-url]");
  if (!counters.length || !window.fetch) {
    return;
  }
  var url = counters[0].getAttribute("data-stats-url");

  function show(stats) {
    Array.prototype.forEach.call(counters, function (counter) {
      var numbers = new Intl.NumberFormat(counter.getAttribute("data-locale"));
      Array.prototype.forEach.call(counter.querySelectorAll('[data-count="sent"]'), function (el) {
        el.textContent = numbers.format(stats.sent);
      });
      var bar = counter.querySelector("progress");
      if (bar) {
        bar.value = Math.min(stats.sent, bar.max);
      }
    });
  }

  function refresh() {
    if (document.hidden) {
      return;
    }
    fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (stats) {
        if (stats) {
          show(stats);
        }
      })
      .catch(function () {});
  }

  window.setInterval(refresh, 15000);
  document.addEventListener("visibilitychange", refresh);
  window.addEventListener("pageshow", refresh);
})();
