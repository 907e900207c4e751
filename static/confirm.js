/* Klaxon: confirmations in a dialog, as an optional extra. A link marked data-confirm leads to a
 * page that asks and whose form acts; with this script the browser asks instead, and on "OK"
 * posts the same form (data-confirm-post, with data-confirm-fields such as "enabled=false" and
 * the page's CSRF token) without the detour. */
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[data-confirm][data-confirm-post]") : null;
    var token = document.querySelector("input[name=csrf_token]");
    if (!link || !token || event.ctrlKey || event.metaKey || event.shiftKey) {
      return; // no token on the page: the confirmation page asks
    }
    event.preventDefault();
    if (!window.confirm(link.getAttribute("data-confirm"))) {
      return;
    }
    var form = document.createElement("form");
    form.method = "post";
    form.action = link.getAttribute("data-confirm-post");
    var fields = [["csrf_token", token.value]];
    new URLSearchParams(link.getAttribute("data-confirm-fields") || "").forEach(function (value, name) {
      fields.push([name, value]);
    });
    fields.forEach(function (field) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = field[0];
      input.value = field[1];
      form.appendChild(input);
    });
    document.body.appendChild(form);
    form.submit();
  });
})();
