/* The dashboard's chart (analytics.chart draws it on the server): a tap, click or keyboard
   focus on a day shows that day's figures under the chart, and marks its bar. The chart
   and the table of days read the same without this script. */
(function () {
  "use strict";
  var chart = document.querySelector("[data-chart]");
  if (!chart) {
    return;
  }
  var output = chart.querySelector(".chart-tip");

  function show(day) {
    var active = chart.querySelectorAll("g.day.active");
    for (var i = 0; i < active.length; i++) {
      active[i].classList.remove("active");
    }
    day.classList.add("active");
    if (output) {
      output.textContent = day.getAttribute("data-tip");
    }
  }

  function dayOf(target) {
    return target && target.closest ? target.closest("g.day") : null;
  }

  chart.addEventListener("click", function (event) {
    var day = dayOf(event.target);
    if (day) {
      show(day);
    }
  });
  chart.addEventListener("focusin", function (event) {
    var day = dayOf(event.target);
    if (day) {
      show(day);
    }
  });
})();
