// Case page behaviour. Loaded as a file: the Content-Security-Policy forbids inline scripts.
// The claim's lease is renewed by htmx (hx-trigger="every 300s" on #lease-renew); when the
// server answers that the viewer no longer holds the claim, say so and stop pinging.
(function () {
  "use strict";

  document.addEventListener("htmx:responseError", function (event) {
    var source = event.detail && event.detail.elt;
    if (!source || source.id !== "lease-renew") return;
    if (event.detail.xhr && event.detail.xhr.status === 409) {
      // htmx stops polling an element once it has left the document.
      source.remove();
      var notice = document.getElementById("lease-lost");
      if (notice) notice.hidden = false;
    }
  });
})();
