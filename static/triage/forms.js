// A page that answers a form post (a refusal with its message, a key shown once) is
// rendered at the page's own URL; this turns its history entry into a plain visit,
// so a reload shows the page again instead of posting the form a second time.
(function () {
  "use strict";
  if (document.body.hasAttribute("data-answers-post") && window.history.replaceState) {
    window.history.replaceState(null, "", window.location.href);
  }
})();
