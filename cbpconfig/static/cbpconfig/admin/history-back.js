// A link marked data-history-back goes back in the browser's history when there is a page to
// go back to (so a form keeps what was typed into it), and follows its href otherwise.
// A file, not an inline handler: the Content-Security-Policy allows scripts from 'self' only.
"use strict";
document.addEventListener("click", function (event) {
  const link = event.target.closest("a[data-history-back]");
  if (link && window.history.length > 1) {
    event.preventDefault();
    window.history.back();
  }
});
