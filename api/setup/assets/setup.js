// The setup page's small helpers, all optional: the page works without
// them (the values are in read-only fields; without scripting a waiting
// page reloads itself: its meta refresh is in a <noscript>, which browsers
// apply only with scripting off, so with this script the page never
// reloads and what the admin types stays).
"use strict";
(function () {
  function wireCopy(root) {
    root.querySelectorAll("button.copy[data-copy]").forEach(function (b) {
      if (!navigator.clipboard) { return; }
      b.hidden = false;
      b.addEventListener("click", function () {
        var field = document.getElementById(b.dataset.copy);
        navigator.clipboard.writeText(field.value).then(function () {
          b.textContent = "Copied";
          setTimeout(function () { b.textContent = "Copy"; }, 2000);
        });
      });
    });
  }
  // Refresh the status section in place (no reload: a key shown once, a
  // name being typed and the focus stay).
  function pollStatus() {
    var s = document.getElementById("status");
    if (!s || !s.dataset.refresh || !window.fetch) { return; }
    setInterval(function () {
      var cur = document.getElementById("status");
      fetch(cur.dataset.refresh, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) {
          // The session ended (the link expired or was revoked): the page
          // itself then says so and what to do.
          if (r.status === 401 || r.status === 404 || r.status === 410) { window.location.reload(); }
          return r.ok ? r.text() : null;
        })
        .then(function (html) {
          if (html === null) { return; }
          var t = document.createElement("template");
          t.innerHTML = html.trim();
          var fresh = t.content.firstElementChild;
          if (fresh && fresh.id === "status" && fresh.innerHTML !== cur.innerHTML) { cur.replaceWith(fresh); }
        })
        .catch(function () {});
    }, 5000);
  }
  document.addEventListener("DOMContentLoaded", function () { wireCopy(document); pollStatus(); });
})();
