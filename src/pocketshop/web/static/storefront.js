// Product page SKU picker, on top of a form that works without it: shows the chosen SKU's
// price and stock, and greys out values that would only lead to a sold-out combination.
(function () {
  "use strict";
  var form = document.querySelector("[data-sku-picker]");
  var data = document.getElementById("sku-data");
  if (!form || !data) return;
  var skus = JSON.parse(data.textContent);
  var fieldsets = form.querySelectorAll("fieldset[data-dimension]");
  if (!fieldsets.length) return;
  var price = document.querySelector("[data-price]");
  var listPrice = document.querySelector("[data-list-price]");
  var stock = document.querySelector("[data-stock]");
  var initialPrice = price ? price.textContent : "";
  var buttons = Array.prototype.slice.call(form.querySelectorAll("button[type=submit]"));

  function chosen() {
    return Array.prototype.map.call(fieldsets, function (set) {
      var checked = set.querySelector("input:checked");
      return checked ? checked.value : null;
    });
  }

  function matches(sku, values) {
    return values.every(function (value, i) { return value === null || sku.spec[i] === value; });
  }

  function stockText(count) {
    if (count <= 0) return stock.dataset.textSoldOut;
    var template = count <= Number(stock.dataset.lowStock) ? stock.dataset.textLow : stock.dataset.textInStock;
    return template.replace("{n}", String(count));
  }

  function inStock(values) {
    return skus.some(function (sku) { return sku.stock > 0 && matches(sku, values); });
  }

  function refresh() {
    var values = chosen();
    // Greyed out: a value that sells out with the other choices. Disabled: one that has no
    // stock with any choice (disabling the first kind would trap the buyer in a choice).
    Array.prototype.forEach.call(fieldsets, function (set, index) {
      set.querySelectorAll("input[type=radio]").forEach(function (input) {
        var trial = values.slice();
        trial[index] = input.value;
        var alone = values.map(function () { return null; });
        alone[index] = input.value;
        input.closest("label").classList.toggle("sold-out", !inStock(trial));
        input.disabled = !inStock(alone) && !input.checked;
      });
    });
    var sku = values.indexOf(null) === -1
      ? skus.filter(function (one) { return matches(one, values); })[0]
      : null;
    buttons.forEach(function (button) {
      // Off for a sold-out SKU, and while no SKU left in stock fits the choices so far.
      button.disabled = sku ? sku.stock <= 0 : !inStock(values);
      if (button.dataset.textSoldOut) {
        button.textContent = button.disabled ? button.dataset.textSoldOut : button.dataset.textBuy;
      }
    });
    if (!sku) {
      if (price) price.textContent = initialPrice;
      return;
    }
    if (price) price.textContent = sku.price;
    if (listPrice) {
      listPrice.textContent = sku.list_price;
      listPrice.hidden = !sku.list_price;
    }
    if (stock) {
      stock.textContent = stockText(sku.stock);
      stock.classList.toggle("is-sold-out", sku.stock <= 0);
      stock.classList.toggle("is-low", sku.stock > 0 && sku.stock <= Number(stock.dataset.lowStock));
    }
  }

  form.addEventListener("change", refresh);
  refresh();
})();

// A refused add to the cart comes back to the product page at #buy: the anchor scrolls to the
// picker; here the choice the message is about (else the message) is also centred and focused,
// so a phone shows both above the fixed buy bar and a screen reader reads the message.
(function () {
  "use strict";
  var form = document.querySelector("[data-sku-picker]");
  var message = form && form.querySelector("[role=alert]");
  if (!message) return;
  var target = form.querySelector("[aria-invalid=true]:not(:disabled)") || message;
  if (target === message) message.setAttribute("tabindex", "-1");
  // After the load, when the browser has scrolled to #buy (which would undo both).
  window.addEventListener("load", function () {
    setTimeout(function () {
      message.scrollIntoView({ block: "center" });
      target.focus({ preventScroll: true });
    }, 0);
  });
})();

// Forms that undo something ask first (without JavaScript they simply submit).
document.addEventListener("submit", function (event) {
  var message = event.target.getAttribute && event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) event.preventDefault();
});

// Checkout: choosing another address shows its shipping fee and total (each choice carries
// the server's figures; without JavaScript the totals are the first chosen address's).
(function () {
  "use strict";
  var choices = document.querySelectorAll("input[name=address][data-shipping]");
  if (!choices.length) return;
  var show = function (choice) {
    document.querySelectorAll("[data-shipping-fee]").forEach(function (shown) {
      shown.textContent = choice.getAttribute("data-shipping");
    });
    document.querySelectorAll("[data-grand-total]").forEach(function (shown) {
      shown.textContent = choice.getAttribute("data-total");
    });
  };
  choices.forEach(function (choice) {
    choice.addEventListener("change", function () {
      if (choice.checked) show(choice);
    });
  });
})();

// Share sheet: a tap on the link selects all of it; the copy button (shown only where the
// browser lets a page write the clipboard) copies it.
(function () {
  "use strict";
  document.querySelectorAll("[data-share-link]").forEach(function (input) {
    input.addEventListener("focus", function () { input.select(); });
  });
  if (!navigator.clipboard) return;
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var input = button.parentNode.querySelector("[data-share-link]");
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(input.value).then(function () {
        button.textContent = button.getAttribute("data-text-copied");
      });
    });
  });
})();
