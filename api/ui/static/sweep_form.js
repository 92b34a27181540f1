// The sweep form: as its choices change, ask the server for the member count and the estimated
// training time (api/ui/sweep_estimate.py words them) and show its answer next to the submit button.
(function () {
  "use strict";

  var DELAY_MS = 150; // typing pauses this long before the server is asked
  var NOT_SENT = ["csrf_token", "idempotency_key"]; // never put into a URL

  function preview(form) {
    var url = form.getAttribute("data-preview-url");
    var count = document.getElementById("member-count");
    var estimate = document.getElementById("estimate-text");
    var warning = document.getElementById("estimate-warning");
    var button = document.getElementById("submit-sweep");
    var timer = null;
    var asked = 0;

    function show(answer) {
      count.textContent = answer.members_text;
      count.classList.toggle("over-limit", answer.over_limit);
      estimate.textContent = answer.estimate;
      warning.textContent = answer.warning || "";
      warning.hidden = !answer.warning;
      button.textContent = answer.button;
    }

    function ask() {
      var query = new URLSearchParams(new FormData(form));
      NOT_SENT.forEach(function (name) { query.delete(name); });
      var mine = ++asked;
      fetch(url + "?" + query.toString(), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error("preview " + response.status);
          return response.json();
        })
        .then(function (answer) { if (mine === asked) show(answer); }) // an older answer never wins
        .catch(function () { /* the page keeps what it shows; the server checks on submit */ });
    }

    function later() {
      window.clearTimeout(timer);
      timer = window.setTimeout(ask, DELAY_MS);
    }

    form.addEventListener("input", later);
    form.addEventListener("change", later);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form.sweep-form");
    if (form && form.getAttribute("data-preview-url")) preview(form);
  });
})();
