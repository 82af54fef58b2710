// This page answers a form post (the form refused, drawn again with the error at its field).
// Put the form's own page in the post's place in the history: refresh and Back then load
// that page instead of asking to send the form again.
(function () {
  "use strict";
  var script = document.currentScript;
  var formPage = script && script.getAttribute("data-form-page");
  if (formPage && window.history && history.replaceState) {
    history.replaceState(history.state, "", formPage + window.location.hash);
  }
})();
