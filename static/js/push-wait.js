// Waits for the phone's answer on a push login or enrollment page and moves on by itself.
// Polls the status URL twice a second; no inline script (the CSP forbids it).
(function () {
  "use strict";
  // The wait for the next check is most of the time from the tap to the next page: at 1 s
  // the p95 was 1.03 s (bench/push_latency.py); a check costs the server ~3 ms of CPU.
  var POLL_MS = 500;
  var box = document.getElementById("push-wait");
  if (!box || !document.getElementById("push-status")) {
    return;
  }
  var statusUrl = box.getAttribute("data-status-url");
  var form = document.getElementById(box.getAttribute("data-form"));
  var status = document.getElementById("push-status");
  var done = false;

  function show(id) {
    var element = document.getElementById(id);
    if (element) {
      element.hidden = false;
    }
    // The request on screen is dead: its number must not stay to be tapped, nor the button
    // that says it was approved.
    var request = document.getElementById("push-request");
    if (request) {
      request.hidden = true;
    }
    var approved = form && form.querySelector("button[type=submit]");
    if (approved) {
      approved.hidden = true;
    }
  }

  function check() {
    if (done) {
      return;
    }
    fetch(statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        if (data.status === "approved" || data.status === "done") {
          done = true;
          status.textContent = status.getAttribute("data-approved");
          if (data.next) {
            window.location.assign(data.next);
          } else if (form) {
            form.submit();
          }
        } else if (data.status === "rolled_out") {
          done = true;
          window.location.reload();  // the app has its key: the page now sends the first approval
        } else if (data.status === "denied") {
          done = true;
          status.hidden = true;
          show("push-denied");
        } else if (data.status === "expired") {
          done = true;
          status.hidden = true;
          show("push-expired");
        } else {
          window.setTimeout(check, POLL_MS);
        }
      })
      .catch(function () { window.setTimeout(check, 2000); });
  }

  window.setTimeout(check, POLL_MS);
})();
