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
  function setUpAddRow() {
    document.addEventListener("click", function (event) {
      const button = event.target.closest("[data-add-row]");
      if (!button) { return; }
      event.preventDefault();
      const template = document.getElementById(button.getAttribute("data-add-row"));
      const target = document.getElementById(button.getAttribute("data-add-row-into"));
      if (!template || !target) { return; }
      const counter = button.getAttribute("data-add-row-counter");
      const total = document.getElementById(counter);
      const index = total ? parseInt(total.value, 10) : target.children.length;
      const html = template.innerHTML.replace(/__row__/g, String(index));
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
    setUpAddRow();
    setUpReloads();
    setUpConfirms();
    setUpCopy();
  });
})();
