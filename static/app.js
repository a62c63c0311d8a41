// connect-tokens: progressive enhancement only. Every flow works without this file.
(function () {
  "use strict";

  // ---- Side panels: open in place, focus inside, Escape or Cancel closes, focus returns. ----
  var scrim = document.querySelector(".scrim");
  var opener = null;

  function openPanel(panel, trigger) {
    opener = trigger || null;
    panel.classList.add("panel-enter");
    panel.hidden = false;
    if (scrim) { scrim.classList.add("panel-enter"); scrim.hidden = false; }
    var first = panel.querySelector("input:not([type=hidden]):not([tabindex='-1']), select, textarea, button:not([tabindex='-1'])");
    if (first) first.focus();
  }

  function closePanels() {
    var token = document.getElementById("token-value");
    if (token) {
      // The created view is gone for good: clear the secret and drop the panel.
      token.value = "";
      token.removeAttribute("value");
      var created = document.getElementById("token-created-panel");
      if (created) created.remove();
    }
    document.querySelectorAll(".panel").forEach(function (p) { p.hidden = true; });
    if (scrim) scrim.hidden = true;
    var back = opener || document.getElementById("open-device-token");
    if (back) back.focus();
    opener = null;
    if (location.pathname !== "/settings/account") history.replaceState(null, "", "/settings/account");
  }

  document.querySelectorAll("[data-panel]").forEach(function (a) {
    a.addEventListener("click", function (e) {
      var panel = document.getElementById(a.getAttribute("data-panel"));
      if (!panel) return;
      e.preventDefault();
      openPanel(panel, a);
    });
  });
  document.querySelectorAll("[data-close-panel]").forEach(function (a) {
    a.addEventListener("click", function (e) { e.preventDefault(); closePanels(); });
  });
  if (scrim) scrim.addEventListener("click", closePanels);

  document.addEventListener("keydown", function (e) {
    var open = document.querySelector(".panel:not([hidden])");
    if (!open) return;
    if (e.key === "Escape") {
      e.preventDefault();
      var away = open.querySelector("[data-close-to]");
      if (away) { location.assign(away.getAttribute("data-close-to")); return; }
      closePanels();
      return;
    }
    if (e.key === "Tab") {
      // Keep focus inside the open panel.
      var items = Array.prototype.filter.call(
        open.querySelectorAll("a[href], button:not([hidden]):not([tabindex='-1']), input:not([type=hidden]), select"),
        function (el) { return !el.disabled && el.offsetParent !== null; });
      if (!items.length) return;
      var first = items[0], last = items[items.length - 1];
      if (e.shiftKey && document.activeElement === first) { e.preventDefault(); last.focus(); }
      else if (!e.shiftKey && document.activeElement === last) { e.preventDefault(); first.focus(); }
    }
  });

  // A panel opened by the server (no-JS route, validation errors, created token): focus it.
  var shown = document.querySelector(".panel:not([hidden])");
  if (shown) {
    var invalid = shown.querySelector("[aria-invalid=true]");
    var copy = document.getElementById("copy-token");
    if (invalid) invalid.focus();
    else if (copy) { /* focused below once visible */ }
    else { var f = shown.querySelector("input:not([type=hidden]):not([tabindex='-1']), select"); if (f) f.focus(); }
  }

  // ---- Target entity: show the fleet or the device chooser. ----
  var radios = document.querySelectorAll("input[name=target_kind]");
  function syncTarget() {
    var kind = (document.querySelector("input[name=target_kind]:checked") || {}).value || "fleet";
    document.querySelectorAll("[data-target-kind]").forEach(function (el) {
      el.hidden = el.getAttribute("data-target-kind") !== kind;
    });
  }
  radios.forEach(function (r) { r.addEventListener("change", syncTarget); });
  if (radios.length) syncTarget();

  // ---- Device search as the admin types (server-side, at most 50 results). ----
  var q = document.getElementById("dt-device-q");
  var select = document.getElementById("dt-device");
  var status = document.getElementById("dt-device-status");
  var searchButton = document.getElementById("dt-device-search");
  if (q && select) {
    if (searchButton) searchButton.hidden = true;
    var timer = null, seq = 0;
    q.addEventListener("keydown", function (e) {
      if (e.key === "Enter") { e.preventDefault(); if (select.options.length) select.focus(); }
      if (e.key === "ArrowDown" && select.options.length) { e.preventDefault(); select.focus(); if (select.selectedIndex < 0) select.selectedIndex = 0; }
    });
    q.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var term = q.value.trim(), mine = ++seq;
        if (!term) { select.innerHTML = ""; status.textContent = "Type part of a device name or UUID."; return; }
        fetch(select.getAttribute("data-search-url") + "?q=" + encodeURIComponent(term), { credentials: "same-origin", headers: { Accept: "application/json" } })
          .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
          .then(function (body) {
            if (mine !== seq) return;
            var chosen = select.value;
            select.innerHTML = "";
            body.devices.forEach(function (d) {
              var o = document.createElement("option");
              o.value = d.uuid;
              o.textContent = d.name + " — " + d.uuid + " (" + d.fleet_key + ")";
              if (d.uuid === chosen) o.selected = true;
              select.appendChild(o);
            });
            status.textContent = body.devices.length + " matching devices" + (body.devices.length >= 50 ? " (first 50; type more to narrow)" : "") + ".";
          })
          .catch(function () { if (mine === seq) status.textContent = "Search failed. Use the Search button after reloading."; });
      }, 150);
    });
  }

  // ---- One click generates one token: disable the button once submitted. ----
  document.querySelectorAll(".panel-form").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      var action = e.submitter && e.submitter.value;
      if (action === "search") return;
      if (form.dataset.sent) { e.preventDefault(); return; }
      form.dataset.sent = "1";
    });
  });

  // ---- Show-once token: copy button, select fallback, cleared when the page is left. ----
  var token = document.getElementById("token-value");
  var copy = document.getElementById("copy-token");
  var copyStatus = document.getElementById("copy-status");
  if (token) {
    token.addEventListener("focus", function () { token.select(); });
    // Never leave the secret in a page the browser may keep (back/forward cache).
    window.addEventListener("pagehide", function () { token.value = ""; token.removeAttribute("value"); });
    window.addEventListener("pageshow", function (e) { if (e.persisted) { token.value = ""; location.replace(token.dataset.leaveTo || "/settings/account"); } });
  }
  if (token && copy) {
    copy.hidden = false;
    copy.focus();
    copy.addEventListener("click", function () {
      function selected() {
        token.focus(); token.select();
        copyStatus.textContent = "Selected: press Ctrl+C (⌘C) to copy.";
      }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(token.value).then(function () {
          copy.textContent = "Copied";
          copyStatus.textContent = "Copied to the clipboard.";
          setTimeout(function () { copy.textContent = "Copy"; }, 2000);
        }, selected);
      } else {
        selected();
      }
    });
  }
  // ---- Access Tokens: select every row of the page at once; the bulk button counts them. ----
  var bulk = document.getElementById("bulk");
  var boxes = Array.prototype.slice.call(document.querySelectorAll("input[type=checkbox][form=bulk]"));
  var bulkButton = document.getElementById("revoke-selected");
  if (bulk && bulkButton) {
    var head = document.querySelector("[data-select-all]");
    var all = null;
    var syncBulk = function () {
      var n = boxes.filter(function (b) { return b.checked; }).length;
      bulkButton.disabled = n === 0;
      bulkButton.textContent = n ? "Revoke " + n + " selected…" : "Revoke selected…";
      if (all) {
        all.checked = n > 0 && n === boxes.length;
        all.indeterminate = n > 0 && n < boxes.length;
      }
    };
    if (head && boxes.length) {
      all = document.createElement("input");
      all.type = "checkbox";
      all.id = "select-all";
      all.setAttribute("aria-label", "Select every active token on this page");
      head.appendChild(all);
      all.addEventListener("change", function () {
        boxes.forEach(function (b) { b.checked = all.checked; });
        syncBulk();
      });
    }
    boxes.forEach(function (b) { b.addEventListener("change", syncBulk); });
    syncBulk();
  }

  // ---- Passkeys (WebAuthn): the one part that needs JavaScript. ----
  // The server's options carry binary fields as base64url; the browser wants ArrayBuffers.
  function b64uToBuf(s) {
    var b64 = s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4);
    return Uint8Array.from(atob(b64), function (c) { return c.charCodeAt(0); }).buffer;
  }
  function bufToB64u(buf) {
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function creationOptions(o) {
    var pk = o.publicKey;
    pk.challenge = b64uToBuf(pk.challenge);
    pk.user.id = b64uToBuf(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = b64uToBuf(c.id); });
    return { publicKey: pk };
  }
  function requestOptions(o) {
    var pk = o.publicKey;
    pk.challenge = b64uToBuf(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = b64uToBuf(c.id); });
    return { publicKey: pk };
  }
  function credentialJSON(cred) {
    var r = cred.response, out = { id: cred.id, rawId: bufToB64u(cred.rawId), type: cred.type,
      extensions: cred.getClientExtensionResults(), response: { clientDataJSON: bufToB64u(r.clientDataJSON) } };
    if (r.attestationObject) {
      out.response.attestationObject = bufToB64u(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = bufToB64u(r.authenticatorData);
      out.response.signature = bufToB64u(r.signature);
      out.response.userHandle = r.userHandle ? bufToB64u(r.userHandle) : null;
    }
    return JSON.stringify(out);
  }
  // POSTs form fields (the CSRF token among them) and reads the JSON answer.
  function post(url, fields) {
    var body = new URLSearchParams();
    Object.keys(fields).forEach(function (k) { body.append(k, fields[k]); });
    return fetch(url, { method: "POST", body: body, credentials: "same-origin" }).then(function (res) {
      // An error page (an expired form, a signed-out session) is HTML, not JSON.
      if ((res.headers.get("content-type") || "").indexOf("application/json") !== 0) {
        throw new Error("The request failed (" + res.status + "): reload the page and try again.");
      }
      return res.json().then(function (data) {
        if (!res.ok) throw new Error(data.error || "The request failed.");
        return data;
      });
    });
  }
  function showError(el, err) {
    if (!el) return;
    el.textContent = err && err.name === "NotAllowedError"
      ? "The passkey request was cancelled or timed out."
      : (err && err.message) || "The passkey did not work.";
    el.hidden = false;
  }
  var webauthn = !!(window.PublicKeyCredential && navigator.credentials);

  var addForm = document.querySelector("[data-passkey-add]");
  if (addForm && webauthn) {
    var addButton = addForm.querySelector("button[type=submit]");
    addButton.disabled = false;
    addForm.addEventListener("submit", function (e) {
      e.preventDefault();
      var csrf = addForm.elements.csrf.value, name = addForm.elements.name.value;
      var error = document.getElementById("passkey-add-error");
      error.hidden = true;
      addButton.disabled = true;
      post("/settings/security/passkeys/options", { csrf: csrf })
        .then(function (o) { return navigator.credentials.create(creationOptions(o)); })
        .then(function (cred) {
          return post(addForm.action, { csrf: csrf, name: name, credential: credentialJSON(cred) });
        })
        .then(function (done) {
          if (!done.recovery_codes) return location.assign(done.redirect);
          // The first second factor: on to the recovery codes, made and shown once.
          var codes = document.createElement("form");
          codes.method = "post";
          codes.action = "/settings/security/recovery-codes";
          var token = document.createElement("input");
          token.type = "hidden"; token.name = "csrf"; token.value = csrf;
          codes.appendChild(token);
          document.body.appendChild(codes);
          codes.submit();
        })
        .catch(function (err) { addButton.disabled = false; showError(error, err); });
    });
  }

  document.querySelectorAll("[data-passkey-login]").forEach(function (button) {
    if (!webauthn) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var url = button.getAttribute("data-passkey-login"), csrf = button.getAttribute("data-csrf");
      var error = document.getElementById("passkey-error");
      if (error) error.hidden = true;
      button.disabled = true;
      post(url + "/options", { csrf: csrf })
        .then(function (o) { return navigator.credentials.get(requestOptions(o)); })
        .then(function (cred) { return post(url, { csrf: csrf, credential: credentialJSON(cred) }); })
        .then(function (done) { location.assign(done.redirect); })
        .catch(function (err) { button.disabled = false; showError(error, err); });
    });
  });
})();
