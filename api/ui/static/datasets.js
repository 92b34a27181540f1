// sdd-jobs dashboard: uploading a dataset archive from the datasets page, in parts and resumably.
// Our own code, no dependencies: the file is hashed (SHA-256, below), an open upload of the same
// file is taken up again or a new one begins, each missing part goes where the server says (the
// dashboard's part route with its SHA-256, or an object store's presigned URL), then the upload
// is completed and the browser goes to the dataset's page.
(function () {
  "use strict";

  var HASH_SLICE = 4 << 20;
  var TARGETS_AT_ONCE = 16;
  var PART_TRIES = 3;
  var URL_MARGIN_MS = 30000;

  // ---- SHA-256 (FIPS 180-4), fed in pieces: WebCrypto hashes a whole buffer at once only, and
  // only on https pages; an archive may be far larger than memory.
  var K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
  ]);

  function Sha256() {
    this.state = new Uint32Array([
      0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
    ]);
    this.block = new Uint8Array(64);
    this.filled = 0; // bytes waiting in block
    this.length = 0; // bytes hashed in all
    this.w = new Uint32Array(64);
  }

  function rotr(x, n) { return (x >>> n) | (x << (32 - n)); }

  // One 64-byte block of bytes at offset: the compression function.
  Sha256.prototype.compress = function (bytes, offset) {
    var w = this.w, s = this.state, t;
    for (t = 0; t < 16; t++) {
      var i = offset + 4 * t;
      w[t] = (bytes[i] << 24) | (bytes[i + 1] << 16) | (bytes[i + 2] << 8) | bytes[i + 3];
    }
    for (t = 16; t < 64; t++) {
      var s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >>> 3);
      var s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >>> 10);
      w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    var a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
    for (t = 0; t < 64; t++) {
      var t1 = (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t]) | 0;
      var t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    s[0] += a; s[1] += b; s[2] += c; s[3] += d; s[4] += e; s[5] += f; s[6] += g; s[7] += h;
  };

  Sha256.prototype.update = function (bytes) {
    var at = 0;
    this.length += bytes.length;
    if (this.filled) {
      var take = Math.min(64 - this.filled, bytes.length);
      this.block.set(bytes.subarray(0, take), this.filled);
      this.filled += take;
      at = take;
      if (this.filled < 64) return this;
      this.compress(this.block, 0);
      this.filled = 0;
    }
    for (; at + 64 <= bytes.length; at += 64) this.compress(bytes, at);
    this.block.set(bytes.subarray(at), 0);
    this.filled = bytes.length - at;
    return this;
  };

  Sha256.prototype.hex = function () {
    var bits = this.length * 8;
    var tail = new Uint8Array(this.filled < 56 ? 64 : 128);
    tail.set(this.block.subarray(0, this.filled));
    tail[this.filled] = 0x80;
    var view = new DataView(tail.buffer);
    view.setUint32(tail.length - 8, Math.floor(bits / 0x100000000));
    view.setUint32(tail.length - 4, bits >>> 0);
    for (var at = 0; at < tail.length; at += 64) this.compress(tail, at);
    var out = "";
    for (var i = 0; i < 8; i++) out += ("00000000" + this.state[i].toString(16)).slice(-8);
    return out;
  };

  function sha256(bytes) { return new Sha256().update(bytes).hex(); }

  // ---- talking to the dashboard's upload routes (signed in by its cookie, CSRF token in a header)
  function Server(csrf) { this.csrf = csrf; }

  Server.prototype.call = async function (method, url, body) {
    var headers = { Accept: "application/json", "X-CSRF-Token": this.csrf };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    var response = await fetch(url, {
      method: method, credentials: "same-origin", headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body)
    });
    return answer(response);
  };

  async function answer(response) {
    if (response.status === 401) {
      window.location.reload();
      throw new Error("signed out");
    }
    var text = await response.text();
    var parsed = null;
    try { parsed = JSON.parse(text); } catch (e) { /* not JSON: an HTML error page */ }
    if (!response.ok) {
      var message = parsed && parsed.error ? parsed.error.message : "HTTP " + response.status + ": reload the page and try again";
      var error = new Error(message);
      error.status = response.status;
      throw error;
    }
    return parsed;
  }

  Server.prototype.putPart = async function (target, bytes) {
    var response;
    if (target.through_api) {
      response = await fetch(target.url, {
        method: "PUT", credentials: "same-origin", body: bytes,
        headers: { "X-CSRF-Token": this.csrf, "X-Content-SHA256": sha256(bytes), "Content-Type": "application/octet-stream" }
      });
    } else { // straight to the object store: the URL is the permission, no cookie goes with it
      response = await fetch(target.url, { method: "PUT", credentials: "omit", body: bytes });
      if (!response.ok) {
        var error = new Error("the object store refused part " + target.number + " (HTTP " + response.status + ")");
        error.status = response.status;
        throw error;
      }
      return;
    }
    await answer(response);
  };

  // ---- one upload
  async function hashFile(file, show) {
    var hash = new Sha256();
    for (var offset = 0; offset < file.size; offset += HASH_SLICE) {
      hash.update(new Uint8Array(await file.slice(offset, offset + HASH_SLICE).arrayBuffer()));
      show("Checking the file", Math.min(offset + HASH_SLICE, file.size), file.size);
    }
    return hash.hex();
  }

  function usable(target) {
    return target && (!target.expires_at || Date.parse(target.expires_at) - URL_MARGIN_MS > Date.now());
  }

  function partSize(upload, number) {
    return number < upload.parts ? upload.part_size : upload.size_bytes - upload.part_size * (upload.parts - 1);
  }

  async function uploadFile(server, file, name, show) {
    var digest = await hashFile(file, show);
    var query = new URLSearchParams({ filename: file.name, size: String(file.size), sha256: digest });
    var earlier = await server.call("GET", "/ui/datasets/uploads?" + query.toString());
    var upload = earlier.data[0];
    if (!upload) {
      var body = { filename: file.name, size: file.size, sha256: digest };
      if (name) body.name = name;
      upload = await server.call("POST", "/ui/datasets/uploads", body);
    }
    var base = "/ui/datasets/uploads/" + encodeURIComponent(upload.id);
    var done = upload.received.reduce(function (sum, part) { return sum + part.size_bytes; }, 0);
    var targets = {};
    upload.targets.forEach(function (target) { targets[target.number] = target; });
    var verb = earlier.data[0] ? "Resuming the upload" : "Uploading";
    show(verb, done, file.size);
    for (var i = 0; i < upload.missing.length; i++) {
      var number = upload.missing[i];
      if (!usable(targets[number])) {
        var fresh = await server.call("POST", base + "/parts", { numbers: upload.missing.slice(i, i + TARGETS_AT_ONCE) });
        fresh.data.forEach(function (target) { targets[target.number] = target; });
      }
      var start = (number - 1) * upload.part_size;
      var bytes = new Uint8Array(await file.slice(start, start + partSize(upload, number)).arrayBuffer());
      for (var attempt = 1; ; attempt++) {
        try {
          await server.putPart(targets[number], bytes);
          break;
        } catch (error) {
          var retryable = !error.status || error.status >= 500 || error.status === 403;
          if (!retryable || attempt === PART_TRIES) throw error;
          if (error.status === 403 && !targets[number].through_api) {
            targets[number] = (await server.call("POST", base + "/parts", { numbers: [number] })).data[0];
          }
          await new Promise(function (resolve) { window.setTimeout(resolve, 1000 * attempt); });
        }
      }
      done += bytes.length;
      show(verb, done, file.size);
    }
    show("Completing", file.size, file.size);
    return server.call("POST", base + "/complete", {});
  }

  function uploadForm(form) {
    var input = form.querySelector("input[type='file']");
    var name = form.querySelector("input[name='name']");
    var button = form.querySelector("button[type='submit']");
    var status = document.getElementById("upload-status");
    var bar = document.getElementById("upload-progress");
    var server = new Server(form.dataset.csrf);

    function say(text, failed) {
      status.textContent = text;
      status.classList.toggle("failed", !!failed);
    }
    function show(stage, done, total) {
      bar.hidden = false;
      bar.max = total || 1;
      bar.value = done;
      say(stage + ": " + Math.floor((100 * done) / (total || 1)) + "% of " + total + " bytes");
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var file = input.files[0];
      if (!file) {
        say("Choose an archive first.", true);
        return;
      }
      button.disabled = true;
      uploadFile(server, file, name.value.trim(), show)
        .then(function (dataset) {
          say("Uploaded: the dataset is being ingested.");
          window.location.assign(dataset.url);
        })
        .catch(function (error) {
          say("The upload stopped: " + error.message + " Send the same file again to go on where it stopped.", true);
          button.disabled = false;
        });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("upload-form");
    if (form) uploadForm(form);
  });

  window.SddSha256 = Sha256; // for tests: the same digests as the server's hashlib
})();
