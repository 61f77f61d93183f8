// The operations console's behaviour. A file, not inline script or on* attributes: the
// Content-Security-Policy allows scripts from 'self' only. Every page works without it;
// this adds countdowns, as-you-type checks, "add a row" and confirmations.
"use strict";

(function () {
  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function formatRemaining(ms) {
    if (ms <= 0) { return "now"; }
    let s = Math.floor(ms / 1000);
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    if (d > 0) { return d + " d " + h + " h"; }
    if (h > 0) { return h + " h " + pad(m) + " min " + pad(s) + " s"; }
    return m + " min " + pad(s) + " s";
  }

  // <span data-countdown="2026-12-24T13:00:00Z">: the time left until that instant.
  function tickCountdowns() {
    const now = Date.now();
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      const target = Date.parse(el.getAttribute("data-countdown"));
      if (!isNaN(target)) { el.textContent = formatRemaining(target - now); }
    });
  }

  function csrfToken() {
    const field = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (field) { return field.value; }
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  // <textarea data-check-url="...">: the value checked by the server as it is typed (the same
  // rules as a save), the answer shown in the .cbp-check element after it. Delegated, so rows
  // added later (the admin's "Add another") are checked too.
  function setUpChecks() {
    const timers = new WeakMap();
    document.addEventListener("input", function (event) {
      const input = event.target.closest ? event.target.closest("[data-check-url]") : null;
      if (!input) { return; }
      const output = input.parentElement.querySelector(".cbp-check");
      if (!output) { return; }
      if (timers.has(input)) { clearTimeout(timers.get(input)); }
      timers.set(input, setTimeout(function () {
        const body = new URLSearchParams();
        body.set("value", input.value);
        // On a configuration's own page the type and the schema are the page's, unsaved.
        const box = input.closest(".cbp-typed-value");
        ["type", "schema"].forEach(function (part) {
          const id = box ? box.getAttribute("data-" + part + "-from") : null;
          const field = id ? document.getElementById(id) : null;
          if (field) { body.set(part === "type" ? "value_type" : "schema", field.value); }
        });
        fetch(input.getAttribute("data-check-url"), {
          method: "POST",
          headers: { "X-CSRFToken": csrfToken(), "Content-Type": "application/x-www-form-urlencoded" },
          body: body.toString(),
          credentials: "same-origin"
        }).then(function (r) { return r.json(); }).then(function (answer) {
          output.textContent = answer.ok ? "✓ valid for this configuration" : "✗ " + answer.error;
          output.className = "cbp-check " + (answer.ok ? "cbp-ok" : "cbp-bad");
        }).catch(function () { output.textContent = ""; });
      }, 350));
    });
  }

  // <button data-add-row="ID">: appends a copy of <template id="ID">, numbering its fields.
  // In a session rules editor (.cbp-rules-editor) the template, the rows and the counter are
  // the editor's own, found from the button: the ids of an editor in an override row that the
  // admin's "Add another" made are renumbered by the admin, the button's data-* are not. The
  // template's names start "__rules__-__row__-": the editor's name (its counter's, less
  // "-TOTAL") and the row's number go there.
  function setUpAddRow() {
    document.addEventListener("click", function (event) {
      const button = event.target.closest("[data-add-row]");
      if (!button) { return; }
      event.preventDefault();
      const editor = button.closest(".cbp-rules-editor");
      const template = editor ? editor.querySelector("template")
        : document.getElementById(button.getAttribute("data-add-row"));
      const target = editor ? editor.querySelector(".cbp-rules")
        : document.getElementById(button.getAttribute("data-add-row-into"));
      if (!template || !target) { return; }
      const total = editor ? editor.querySelector("input[name$='-TOTAL']")
        : document.getElementById(button.getAttribute("data-add-row-counter"));
      const index = total ? parseInt(total.value, 10) : target.children.length;
      let html = template.innerHTML;
      if (total && /-TOTAL$/.test(total.name)) {
        const name = total.name.slice(0, -"-TOTAL".length);
        html = html.replace(/__rules__-__row__/g, name + "-" + String(index));
      }
      html = html.replace(/__row__/g, String(index));
      target.insertAdjacentHTML("beforeend", html);
      if (total) { total.value = String(index + 1); }
    });
  }

  // <form> with a <select data-reload-on-change="name">: choosing reloads the page with the
  // choice in the query (e.g. the subdivisions of the chosen country).
  function setUpReloads() {
    document.querySelectorAll("select[data-reload-on-change]").forEach(function (select) {
      select.addEventListener("change", function () {
        const url = new URL(window.location.href);
        url.searchParams.set(select.getAttribute("data-reload-on-change"), select.value);
        const form = select.form;
        if (form && form.elements.years) { url.searchParams.set("years", form.elements.years.value); }
        window.location.assign(url.toString());
      });
    });
  }

  // <div class="cbp-typed-value" data-type-from="ID">: an input per value type, the one of the
  // type chosen in the select ID enabled (what was typed is carried over). Rows the admin's
  // "Add another" makes later follow too (its formset:added event).
  function showKind(box, kind) {
    const parts = Array.prototype.filter.call(box.children, function (el) {
      return el.hasAttribute("data-kind");
    });
    const current = parts.find(function (el) { return !el.hidden; });
    const wanted = parts.find(function (el) { return el.getAttribute("data-kind") === kind; });
    if (!wanted || wanted === current) { return; }
    const from = current ? current.querySelector("input, select, textarea") : null;
    const to = wanted.querySelector("input, select, textarea");
    if (from && to) {
      const text = from.value.trim();
      if (to.tagName === "SELECT") {
        to.value = text === "true" || text === "false" ? text : "";
      } else if (from.tagName !== "SELECT" || text !== "") {
        to.value = from.value;
      }
      if (from.id) { to.id = from.id; from.removeAttribute("id"); }
      from.disabled = true;
      current.hidden = true;
    }
    to.disabled = false;
    wanted.hidden = false;
    const label = box.querySelector(".cbp-value-type");
    if (label) { label.textContent = kind; }
  }

  function followTypes(root) {
    root.querySelectorAll(".cbp-typed-value[data-type-from]").forEach(function (box) {
      const select = document.getElementById(box.getAttribute("data-type-from"));
      if (select && select.value) { showKind(box, select.value); }
    });
  }

  function setUpTypedValues() {
    document.addEventListener("change", function (event) {
      const select = event.target;
      if (!select.id || select.tagName !== "SELECT") { return; }
      document.querySelectorAll(".cbp-typed-value[data-type-from='" + select.id + "']")
        .forEach(function (box) { if (select.value) { showKind(box, select.value); } });
    });
    document.addEventListener("formset:added", function (event) { followTypes(event.target); });
    followTypes(document);
  }

  // <button data-confirm="message">: asks before submitting.
  function setUpConfirms() {
    document.addEventListener("click", function (event) {
      const button = event.target.closest("[data-confirm]");
      if (button && !window.confirm(button.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    });
  }

  // <button data-copy="ID">: copies the value of the input ID.
  function setUpCopy() {
    document.addEventListener("click", function (event) {
      const button = event.target.closest("[data-copy]");
      if (!button) { return; }
      event.preventDefault();
      const input = document.getElementById(button.getAttribute("data-copy"));
      if (!input) { return; }
      input.select();
      if (navigator.clipboard) {
        navigator.clipboard.writeText(input.value).then(function () { button.textContent = "Copied"; });
      }
    });
  }

  // <textarea data-json-syntax>: says whether what is typed is JSON at all (delegated).
  function setUpJsonSyntax() {
    document.addEventListener("input", function (event) {
      const area = event.target;
      if (!area.matches || !area.matches("textarea[data-json-syntax]")) { return; }
      let output = area.nextElementSibling;
      if (!output || !output.classList.contains("cbp-syntax")) {
        output = document.createElement("span");
        output.className = "cbp-check cbp-syntax";
        area.insertAdjacentElement("afterend", output);
      }
      if (area.value.trim() === "") { output.textContent = ""; return; }
      try {
        JSON.parse(area.value);
        output.textContent = "✓ JSON";
        output.className = "cbp-check cbp-syntax cbp-ok";
      } catch (error) {
        output.textContent = "✗ not JSON yet: " + error.message;
        output.className = "cbp-check cbp-syntax cbp-bad";
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpJsonSyntax();
    tickCountdowns();
    setInterval(tickCountdowns, 1000);
    setUpChecks();
    setUpTypedValues();
    setUpAddRow();
    setUpReloads();
    setUpConfirms();
    setUpCopy();
  });
})();
