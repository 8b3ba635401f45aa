/* The supporter form, enhanced: a live character count for the message, the signature pad
   (signature_pad from the npm registry, served by the app), a preview of the typed signature
   in the handwriting font, and the paper following the country. Without JavaScript the form
   works as plain HTML, drawing aside. */
(function () {
  "use strict";

  var form = document.querySelector(".supporter-form");
  if (!form) {
    return;
  }

  function characterCount() {
    var message = document.getElementById("message");
    var count = document.getElementById("message-count");
    var live = document.getElementById("message-count-live");
    if (!message || !count) {
      return;
    }
    var max = parseInt(message.getAttribute("data-max"), 10);
    var numbers = null;
    var timer = null;
    function update() {
      numbers = numbers || new Intl.NumberFormat(document.documentElement.lang);
      // Code points, as the server counts them (an emoji is one character, not two).
      var left = max - Array.from(message.value).length;
      var template = count.getAttribute(left >= 0 ? "data-left" : "data-over");
      count.textContent = template.replace("{count}", numbers.format(Math.abs(left)));
      count.classList.toggle("over", left < 0);
      count.hidden = false;
      clearTimeout(timer);
      timer = setTimeout(function () {
        live.textContent = count.textContent;
      }, 1200);
    }
    message.addEventListener("input", update);
    // The first number formatted costs a slow phone a tenth of a second (the browser loads its
    // locale's data), so on a blank form the count waits until the supporter comes to the message.
    if (message.value) {
      update();
    } else {
      message.addEventListener("focus", update, { once: true });
    }
  }

  function typedPreview() {
    var name = document.getElementById("name");
    var preview = document.getElementById("typed-preview");
    if (!name || !preview) {
      return;
    }
    name.addEventListener("input", function () {
      preview.textContent = name.value.trim() || preview.getAttribute("data-empty");
    });
  }

  // A country where signing is a risk: its notice opens as soon as the country is chosen (without
  // JavaScript the preview shows it), and the street is no longer required.
  function riskNotice() {
    var country = document.getElementById("country");
    var street = document.getElementById("street");
    var notices = form.querySelectorAll("[data-risk-country]");
    if (!country || !street || !notices.length) {
      return;
    }
    function update() {
      var risky = false;
      Array.prototype.forEach.call(notices, function (notice) {
        if (notice.getAttribute("data-risk-country") === country.value) {
          notice.open = true;
          risky = true;
        }
      });
      street.required = !risky;
    }
    country.addEventListener("change", update);
    update();
  }

  // The paper follows the country (the paper usual there) until the supporter picks one. The form
  // posts the default it shows beside the paper, so that the server tells a choice from a default
  // (app/forms.py): a supporter's pick clears the default, and a country chosen later leaves it.
  function paperFollowsCountry() {
    var country = document.getElementById("country");
    var group = document.getElementById("paper-group");
    var shown = document.getElementById("paper-default");
    if (!country || !group || !shown) {
      return;
    }
    var letterCountries = (group.getAttribute("data-letter-countries") || "").split(" ");
    Array.prototype.forEach.call(group.querySelectorAll('input[name="paper"]'), function (radio) {
      radio.addEventListener("change", function () {
        shown.value = "";
      });
    });
    country.addEventListener("change", function () {
      if (!shown.value) {
        return;
      }
      var paper = letterCountries.indexOf(country.value) >= 0 ? "letter" : "a4";
      var radio = document.getElementById("paper-" + paper);
      if (radio) {
        radio.checked = true;
        shown.value = paper;
      }
    });
  }

  // The letter prints a signature at most 70 x 16 mm: 880 x 200 pixels are about 320 dpi there
  // (the server scales larger images down to this, at a cost; app/supporter.py).
  var PRINT_WIDTH = 880;
  var PRINT_HEIGHT = 200;

  // The smallest image holding the strokes, no larger than the letter prints it: a JPEG on white,
  // which the letters embed as it is (a PNG would be encoded anew for every pack).
  function trimmed(canvas) {
    var width = canvas.width;
    var height = canvas.height;
    var pixels = canvas.getContext("2d").getImageData(0, 0, width, height).data;
    var top = height, left = width, right = -1, bottom = -1;
    for (var y = 0; y < height; y++) {
      for (var x = 0; x < width; x++) {
        var at = (y * width + x) * 4;
        // Ink: not transparent, and not the white of a kept signature drawn back onto the pad.
        if (pixels[at + 3] > 0 && Math.min(pixels[at], pixels[at + 1], pixels[at + 2]) < 235) {
          if (x < left) { left = x; }
          if (x > right) { right = x; }
          if (y < top) { top = y; }
          if (y > bottom) { bottom = y; }
        }
      }
    }
    if (right < 0) {
      return "";
    }
    var margin = 6;
    left = Math.max(0, left - margin);
    top = Math.max(0, top - margin);
    right = Math.min(width - 1, right + margin);
    bottom = Math.min(height - 1, bottom + margin);
    var cropWidth = right - left + 1;
    var cropHeight = bottom - top + 1;
    var scale = Math.min(1, PRINT_WIDTH / cropWidth, PRINT_HEIGHT / cropHeight);
    var out = document.createElement("canvas");
    out.width = Math.max(1, Math.round(cropWidth * scale));
    out.height = Math.max(1, Math.round(cropHeight * scale));
    var context = out.getContext("2d");
    context.fillStyle = "#fff";
    context.fillRect(0, 0, out.width, out.height);
    context.imageSmoothingQuality = "high";
    context.drawImage(canvas, left, top, cropWidth, cropHeight, 0, 0, out.width, out.height);
    return out.toDataURL("image/jpeg", 0.92);
  }

  function signature() {
    var canvas = document.getElementById("signature-pad");
    var image = document.getElementById("signature-image");
    var clear = document.getElementById("signature-clear");
    if (!canvas || !window.SignaturePad) {
      return;
    }
    Array.prototype.forEach.call(form.querySelectorAll("[data-needs-script]"), function (el) {
      el.hidden = false;
    });
    var pad = new window.SignaturePad(canvas, { penColor: "rgb(0, 0, 80)", minWidth: 1, maxWidth: 3.2 });
    var sized = false;

    function showKept() {
      if (!image.value) {
        return;
      }
      var kept = new Image();
      kept.onload = function () {
        var box = canvas.getBoundingClientRect();
        var scale = Math.min(1, box.width / kept.width, box.height / kept.height);
        pad.fromDataURL(image.value, {
          width: kept.width * scale,
          height: kept.height * scale,
          xOffset: (box.width - kept.width * scale) / 2,
          yOffset: (box.height - kept.height * scale) / 2
        });
      };
      kept.src = image.value;
    }

    function resize() {
      var box = canvas.getBoundingClientRect();
      if (!box.width) {
        return;
      }
      var ratio = Math.min(window.devicePixelRatio || 1, 2);
      var strokes = pad.toData();
      canvas.width = Math.round(box.width * ratio);
      canvas.height = Math.round(box.height * ratio);
      canvas.getContext("2d").scale(ratio, ratio);
      pad.clear();
      if (strokes.length) {
        pad.fromData(strokes);
      } else {
        showKept();
      }
      sized = true;
    }

    function showPanel() {
      var checked = form.querySelector('input[name="signature_kind"]:checked');
      var kind = checked ? checked.value : "";
      Array.prototype.forEach.call(form.querySelectorAll("[data-panel]"), function (panel) {
        panel.hidden = panel.getAttribute("data-panel") !== kind;
      });
      if (kind === "drawn" && !sized) {
        resize();
      }
    }

    Array.prototype.forEach.call(form.querySelectorAll('input[name="signature_kind"]'), function (radio) {
      radio.addEventListener("change", showPanel);
    });
    window.addEventListener("resize", function () {
      if (sized) {
        resize();
      }
    });
    clear.addEventListener("click", function () {
      pad.clear();
      image.value = "";
    });
    form.addEventListener("submit", function () {
      var checked = form.querySelector('input[name="signature_kind"]:checked');
      if (checked && checked.value === "drawn" && pad.toData().length) {
        image.value = trimmed(canvas);
      }
    });
    showPanel();
  }

  characterCount();
  typedPreview();
  riskNotice();
  paperFollowsCountry();
  signature();

  // After a refused submission, start at the list of what to correct (it links to each field).
  var summary = document.querySelector(".error-summary");
  if (summary) {
    summary.focus();
  }
})();
