// The analyst workspace's case-page line. Loaded as a file: the Content-Security-Policy
// forbids inline scripts. A break prompt (swapped in by the presence poll) is dismissed
// with its button; the next threshold brings a new one.
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-dismiss-break]");
    if (!button) return;
    var prompt = button.closest(".break-prompt");
    if (prompt) prompt.remove();
  });
})();
