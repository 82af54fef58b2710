// Progressive enhancement for the merchant console; every page works without it.
// 1. The product editor's SKU matrix follows the specs as they are typed; its description
//    is edited as formatted text (a toolbar over a contenteditable area).
// 2. The nav's to-ship badge and the orders list's "new orders" banner update by polling.
// 3. A tap on a link to share selects all of it, ready to copy.
// 4. Forms that cannot be undone (a refund, a cancellation) ask first.
// 5. The nav strip, scrolled sideways on a narrow screen, shows the current section.
(function () {
  "use strict";

  var current = document.querySelector(".console-nav [aria-current=page]");
  if (current) current.scrollIntoView({ block: "nearest", inline: "nearest" });

  // --- SKU matrix -------------------------------------------------------------------------
  var rows = document.querySelector("[data-sku-rows]");
  if (rows) {
    var template = document.querySelector("[data-sku-template]");
    var templateExisting = document.querySelector("[data-sku-template-existing]");
    var existing = JSON.parse(rows.getAttribute("data-existing") || "{}");
    var singleLabel = rows.getAttribute("data-label-single");
    var specs = document.querySelectorAll("[data-spec]");
    var fields = ["price", "list_price", "stock", "code"];
    // Everything typed per combination, so a value comes back when a combination does
    // (typing "红" on the way to "红色" does not lose the price typed for "红").
    var memory = {};
    var matrixButton = document.querySelector("[data-matrix-button]");
    if (matrixButton) matrixButton.hidden = true;

    var clean = function (text) { return text.replace(/\s+/g, " ").trim(); };

    var dimensions = function () {
      var found = [];
      specs.forEach(function (spec) {
        var name = clean(spec.querySelector("[data-spec-name]").value);
        var values = spec.querySelector("[data-spec-values]").value
          .split(/[,，、;；\r\n]+/).map(clean).filter(Boolean);
        if (name || values.length) found.push(values);
      });
      return found;
    };

    var combinations = function (dims) {
      return dims.reduce(function (combos, values) {
        var next = [];
        combos.forEach(function (combo) {
          values.forEach(function (value) { next.push(combo.concat([value])); });
        });
        return next;
      }, [[]]);
    };

    var remember = function () {
      rows.querySelectorAll("[data-sku-row]").forEach(function (row) {
        var key = row.querySelector("[data-sku-spec]").value;
        var typed = memory[key] || (memory[key] = {});
        fields.forEach(function (field) {
          var input = row.querySelector("[data-field=" + field + "]");
          if (!input.readOnly) typed[field] = input.value;
        });
      });
    };

    var rebuild = function () {
      remember();
      var combos = combinations(dimensions());
      if (combos.length > 400) return; // the server explains the limit on save
      var fragment = document.createDocumentFragment();
      combos.forEach(function (combo, index) {
        var key = JSON.stringify(combo);
        var known = Object.prototype.hasOwnProperty.call(existing, key);
        var row = (known ? templateExisting : template).content.firstElementChild.cloneNode(true);
        row.querySelectorAll("[name]").forEach(function (input) {
          input.name = input.name.replace("__i__", String(index));
        });
        row.querySelector("[data-sku-label]").textContent =
          combo.length ? combo.join(" / ") : singleLabel;
        row.querySelector("[data-sku-spec]").value = key;
        var typed = memory[key] || {};
        fields.forEach(function (field) {
          var input = row.querySelector("[data-field=" + field + "]");
          input.value = typed[field] || "";
        });
        if (known) row.querySelector("[data-field=stock]").value = String(existing[key]);
        fragment.appendChild(row);
      });
      rows.replaceChildren(fragment);
    };

    specs.forEach(function (spec) { spec.addEventListener("input", rebuild); });
  }

  // --- formatted description -------------------------------------------------------------
  // The plain text box makes way for an editor whose HTML goes in description_html on
  // submit; the server keeps paragraphs, line breaks, bold, italic, lists and headings only.
  var rich = document.querySelector("[data-rich]");
  if (rich && document.execCommand) {
    var editor = rich.querySelector("[data-rich-editor]");
    var toolbar = rich.querySelector("[data-rich-toolbar]");
    var fallback = rich.querySelector("[data-rich-fallback]");
    var field = rich.querySelector("[data-rich-field]");
    var buttons = toolbar.querySelectorAll("[data-command]");
    editor.contentEditable = "true";
    if (!editor.textContent.trim()) editor.innerHTML = "<p><br></p>";
    editor.hidden = false;
    toolbar.hidden = false;
    fallback.hidden = true;
    fallback.disabled = true;
    field.disabled = false;
    rich.querySelector("[data-rich-hint]").hidden = true;
    rich.querySelector("label").addEventListener("click", function () { editor.focus(); });
    document.execCommand("defaultParagraphSeparator", false, "p");

    var inHeading = function () {
      return String(document.queryCommandValue("formatBlock")).toLowerCase() === "h3";
    };
    var showState = function () {
      buttons.forEach(function (button) {
        var command = button.getAttribute("data-command");
        var on = command === "heading" ? inHeading() : document.queryCommandState(command);
        button.setAttribute("aria-pressed", on ? "true" : "false");
      });
    };
    // The selection stays in the editor while a button is pressed.
    toolbar.addEventListener("mousedown", function (event) { event.preventDefault(); });
    toolbar.addEventListener("click", function (event) {
      var button = event.target.closest("[data-command]");
      if (!button) return;
      editor.focus();
      var command = button.getAttribute("data-command");
      if (command === "heading") document.execCommand("formatBlock", false, inHeading() ? "p" : "h3");
      else document.execCommand(command, false, null);
      showState();
    });
    document.addEventListener("selectionchange", function () {
      if (editor.contains(document.getSelection().anchorNode)) showState();
    });
    // Pasted text comes without the styles of where it was copied from.
    editor.addEventListener("paste", function (event) {
      if (!event.clipboardData) return;
      event.preventDefault();
      document.execCommand("insertText", false, event.clipboardData.getData("text/plain"));
    });
    editor.closest("form").addEventListener("submit", function () {
      field.value = editor.innerHTML;
    });
  }

  // --- live order updates -----------------------------------------------------------------
  var nav = document.querySelector("[data-updates]");
  if (!nav || !window.fetch) return;
  var badge = nav.querySelector("[data-to-ship]");
  var banner = document.querySelector("[data-new-orders]");
  var url = nav.getAttribute("data-updates");
  if (banner) url += "?after=" + encodeURIComponent(banner.getAttribute("data-after") || "");

  var poll = function () {
    if (document.hidden) return;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        var type = response.headers.get("content-type") || "";
        return response.ok && type.indexOf("json") !== -1 ? response.json() : null;
      })
      .then(function (data) {
        if (!data) return;
        if (badge) {
          badge.textContent = String(data.to_ship);
          badge.hidden = !data.to_ship;
        }
        if (banner && data.count > 0) {
          banner.textContent = data.label;
          banner.hidden = false;
        }
      })
      .catch(function () { /* offline for a moment: the next poll tries again */ });
  };
  poll();
  window.setInterval(poll, 10000);
  document.addEventListener("visibilitychange", poll);
})();

// In this file, not in an onclick attribute: the Content-Security-Policy runs no inline code.
document.addEventListener("click", function (event) {
  var target = event.target;
  if (target instanceof HTMLInputElement && target.hasAttribute("data-select-all")) target.select();
});

// Forms that cannot be undone ask first (without JavaScript they simply submit).
document.addEventListener("submit", function (event) {
  var message = event.target.getAttribute && event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) event.preventDefault();
});
