// The address form's region picker (orders/_address_fields.html): choosing a province fills
// the cities from GET /api/v1/regions?parent=…, choosing a city fills the districts. Without
// this script the "Choose" button posts the form back with the next list filled.
(function () {
  "use strict";
  function fill(select, regions) {
    var first = select.options[0];
    select.textContent = "";
    select.appendChild(first);
    regions.forEach(function (region) {
      var option = document.createElement("option");
      option.value = region.code;
      option.textContent = region.name;
      select.appendChild(option);
    });
    select.value = "";
    select.disabled = regions.length === 0;
  }
  function clear(select) { fill(select, []); }
  function load(url, parent, select) {
    return fetch(url + "?parent=" + encodeURIComponent(parent), { headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : []; })
      .then(function (regions) {
        fill(select, regions);
        if (regions.length === 1) { select.value = regions[0].code; select.dispatchEvent(new Event("change")); }
      });
  }
  document.querySelectorAll("fieldset.region-picker").forEach(function (picker) {
    if (picker.dataset.ready) { return; }
    picker.dataset.ready = "1";
    var url = picker.dataset.regions;
    var province = picker.querySelector("select[data-level=province]");
    var city = picker.querySelector("select[data-level=city]");
    var district = picker.querySelector("select[data-level=district]");
    var button = picker.querySelector(".region-pick");
    if (button) { button.hidden = true; }
    province.addEventListener("change", function () {
      clear(city); clear(district);
      if (province.value) { load(url, province.value, city); }
    });
    city.addEventListener("change", function () {
      clear(district);
      if (city.value) { load(url, city.value, district); }
    });
  });
})();
