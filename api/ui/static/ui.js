// sdd-jobs dashboard: live job list, live job, sweep and dataset pages, per-method defaults and the
// estimated training time on the job form.
// Our own code, no dependencies. Pages work without it; it only keeps them fresh.
(function () {
  "use strict";

  var POLL_MS = 2000;

  function percent(value) {
    return typeof value === "number" ? value.toFixed(2) + "%" : "\u2014";
  }

  // Signed out meanwhile (token revoked, cookie gone): reload, the server sends us to the login.
  function checked(response) {
    if (response.status === 401) {
      window.location.reload();
      throw new Error("signed out");
    }
    if (!response.ok) throw new Error("HTTP " + response.status);
    return response;
  }

  function setBadge(badge, status) {
    badge.textContent = status;
    badge.className = "badge status-" + status;
  }

  // The same as the progress macro in _macros.html: finished epochs, plus the running epoch's batches.
  function setProgress(cell, job) {
    var inEpoch = typeof job.batch === "number" && job.batches > 0;
    var epochText = "epoch " + job.epoch + "/" + job.epochs;
    var batchText = inEpoch ? " \u00b7 batch " + job.batch + "/" + job.batches : "";
    var bar = cell.querySelector("progress");
    var text = cell.querySelector(".epoch-text");
    var batch = cell.querySelector(".batch-text");
    if (bar) {
      bar.max = job.epochs;
      bar.value = job.epoch + (inEpoch ? job.batch / job.batches : 0);
      bar.textContent = epochText + batchText;
    }
    if (text) text.textContent = epochText;
    if (batch) batch.textContent = batchText;
  }

  // ---- the job list: update rows in place while any shown job is not finished
  function liveJobList(table) {
    function activeIds() {
      var rows = table.querySelectorAll("tr[data-job-id][data-terminal='false']");
      return Array.prototype.map.call(rows, function (row) { return row.dataset.jobId; });
    }
    function update(job) {
      var row = table.querySelector("tr[data-job-id='" + CSS.escape(job.id) + "']");
      if (!row) return;
      setBadge(row.querySelector("[data-field='status'] .badge"), job.status);
      setProgress(row.querySelector("[data-field='progress']"), job);
      row.querySelector("[data-field='val_top1']").textContent = percent(job.val_top1);
      row.dataset.terminal = job.terminal ? "true" : "false";
    }
    function tick() {
      var ids = activeIds();
      if (!ids.length) return;
      var url = table.dataset.liveUrl + "?ids=" + encodeURIComponent(ids.join(","));
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(checked)
        .then(function (response) { return response.json(); })
        .then(function (body) { body.data.forEach(update); })
        .catch(function () { /* try again at the next tick */ })
        .then(function () { if (activeIds().length) window.setTimeout(tick, POLL_MS); });
    }
    window.setTimeout(tick, POLL_MS);
  }

  // ---- a page's live section (the job page, the sweep page): fetch the server-rendered section
  // and swap it in until it says it is terminal. keep(current, fresh) may carry elements over.
  function liveSection(id, keep) {
    function tick() {
      var current = document.getElementById(id);
      fetch(current.dataset.liveUrl, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(checked)
        .then(function (response) { return response.text(); })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(id);
          if (!fresh) return;
          fresh = document.adoptNode(fresh);
          if (keep) keep(current, fresh);
          current.replaceWith(fresh);
        })
        .catch(function () { /* try again at the next tick */ })
        .then(function () {
          if (document.getElementById(id).dataset.terminal !== "true") window.setTimeout(tick, POLL_MS);
        });
    }
    var section = document.getElementById(id);
    if (section && section.dataset.terminal !== "true") window.setTimeout(tick, POLL_MS);
  }

  // the job page: keep the curves already drawn (no flicker, zoom and hidden series kept); when the
  // epoch grows, the chart (charts.js) fetches the metrics again, or the image is loaded again
  function keepJobCurves(current, fresh) {
    var shown = current.querySelector("#curves");
    var incoming = fresh.querySelector("#curves");
    if (shown && incoming) incoming.replaceWith(shown);
    var figure = shown || incoming;
    var epoch = fresh.dataset.epoch;
    if (!figure || Number(epoch) <= Number(figure.dataset.epoch)) return;
    figure.dataset.epoch = epoch;
    if (window.SddCharts) {
      if (figure.sddChart) figure.sddChart.load();
      else window.SddCharts.curves(figure);
      return;
    }
    var img = figure.querySelector("#curves-img");
    if (!img) {
      img = document.createElement("img");
      img.id = "curves-img";
      img.alt = "Training curves: validation accuracy, loss parts, complementary-region share and learning rate per epoch";
      figure.textContent = "";
      figure.appendChild(img);
    }
    img.src = figure.dataset.src + "?epoch=" + encodeURIComponent(epoch);
  }

  // the sweep page: keep the loaded overlay while its URL (one per epoch count) is unchanged
  function keepSweepCurves(current, fresh) {
    var shown = current.querySelector("#sweep-curves");
    var incoming = fresh.querySelector("#sweep-curves");
    if (shown && incoming && shown.getAttribute("src") === incoming.getAttribute("src")) incoming.replaceWith(shown);
  }

  // ---- the job form: a method change swaps the hyper-parameters the user has not edited
  function methodDefaults(form) {
    var source = document.getElementById("method-defaults");
    var method = form.querySelector("select[name='method']");
    if (!source || !method) return;
    var defaults = JSON.parse(source.textContent);
    var previous = method.value;
    method.addEventListener("change", function () {
      var before = defaults[previous] || {};
      var after = defaults[method.value] || {};
      Object.keys(after).forEach(function (name) {
        var input = form.elements.namedItem(name);
        if (input && (input.value === before[name] || input.value === "")) input.value = after[name];
      });
      previous = method.value;
    });
  }

  // ---- the job form: the estimated training time, in the words of api/ui/submit_estimate.py
  function duration(seconds) {
    if (seconds < 59.5) return Math.max(1, Math.round(seconds)) + " s";
    if (seconds < 3570) return Math.round(seconds / 60) + " min";
    var hours = seconds / 3600;
    return (hours < 9.95 ? Math.round(hours * 10) / 10 : Math.round(hours)) + " h";
  }

  function positiveInt(text) {
    return /^\s*[0-9]+\s*$/.test(text || "") && Number(text) > 0 ? Number(text) : null;
  }

  function epochsText(count) {
    return count + (count === 1 ? " epoch" : " epochs");
  }

  // {text, seconds, epochs}: seconds null without a measurement, epochs null when not given
  function estimateOf(data, values) {
    var epochs = positiveInt(values.epochs);
    if (epochs === null) return { text: "give the number of epochs for an estimate", seconds: null, epochs: null };
    var size = Object.prototype.hasOwnProperty.call(data.datasets, values.dataset) ? data.datasets[values.dataset] : null;
    var imageSize = positiveInt(values.imageSize) || (size ? size.image_size : null);
    var distilled = values.method !== "ce";
    var found = null;
    if (imageSize !== null) {
      data.speeds.forEach(function (s) {
        if (!found && s.dataset === values.dataset && s.student === values.student && s.image_size === imageSize &&
            s.distilled === distilled) {
          found = { seconds: epochs * s.seconds_per_epoch, epochs: s.epochs_measured, jobs: s.jobs_measured, basis: "dataset" };
        }
      });
      data.throughput.forEach(function (r) {
        if (!found && size && size.train_size && r.student === values.student && r.image_size === imageSize &&
            r.distilled === distilled) {
          found = { seconds: epochs * size.train_size / r.images_per_s, epochs: r.epochs_measured, jobs: r.jobs_measured, basis: "student" };
        }
      });
    }
    if (!found) {
      var text = "no measurement yet for " + values.student + " on " + (size ? size.name : values.dataset);
      return { text: text, seconds: null, epochs: epochs };
    }
    var measured = "measured over " + epochsText(found.epochs);
    if (found.jobs) measured += " of " + found.jobs + (found.jobs === 1 ? " job" : " jobs");
    if (found.basis === "student") measured = "from " + values.student + "'s images/s on other datasets, " + measured;
    return {
      text: "\u2248 " + duration(found.seconds) + " on this service (" + measured + ")",
      seconds: found.seconds,
      epochs: epochs,
    };
  }

  // what the page says before a long run is submitted; null for a short one
  function warningText(data, estimate) {
    if (estimate.epochs === null) return null;
    if (estimate.seconds !== null) {
      if (estimate.seconds <= data.warn_seconds) return null;
      return "A long job: about " + duration(estimate.seconds) + " of training for " + epochsText(estimate.epochs) +
        ". Lower Epochs to try a setting out first.";
    }
    if (estimate.epochs <= data.warn_epochs_unmeasured) return null;
    return epochsText(estimate.epochs) + " and no job of this kind measured here yet: it may take hours. " +
      "Train a few epochs first to measure it.";
  }

  function buttonText(estimate) {
    if (estimate.seconds !== null) return "Start a ~" + duration(estimate.seconds) + " job";
    return estimate.epochs !== null ? "Start a " + estimate.epochs + "-epoch job" : "Submit job";
  }

  function trainingEstimate(form) {
    var source = document.getElementById("speed-estimates");
    var target = document.getElementById("estimate-text");
    var warning = document.getElementById("estimate-warning");
    var button = document.getElementById("submit-job");
    if (!source || !target) return;
    var data = JSON.parse(source.textContent);
    function value(name) {
      var input = form.elements.namedItem(name);
      return input ? input.value : "";
    }
    function update() {
      var estimate = estimateOf(data, {
        dataset: value("dataset"),
        student: value("student"),
        method: value("method"),
        epochs: value("hyperparameters.epochs"),
        imageSize: value("image_size"),
      });
      target.textContent = estimate.text;
      var warned = warningText(data, estimate);
      if (warning) {
        warning.textContent = warned || "";
        warning.hidden = !warned;
      }
      if (button) button.textContent = buttonText(estimate);
    }
    ["dataset", "student", "method", "hyperparameters.epochs", "image_size"].forEach(function (name) {
      var input = form.elements.namedItem(name);
      if (!input) return;
      input.addEventListener("change", update);
      input.addEventListener("input", update);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.requestSubmit(); });
    });
    var table = document.getElementById("jobs-table");
    if (table) liveJobList(table);
    liveSection("job-live", keepJobCurves);
    liveSection("sweep-live", keepSweepCurves);
    liveSection("dataset-live");
    var form = document.querySelector("form.job-form");
    if (form) {
      methodDefaults(form);
      trainingEstimate(form);
    }
  });
})();
