/* Klaxon: keyboard shortcuts, as an optional extra (every action has its button).
 *
 * On the incidents list: j / k move between rows, Enter opens the current one, x ticks it,
 * a acknowledges and r resolves it (its own buttons), / goes to the filters. On an incident's
 * page: a and r press Acknowledge and Resolve. ? shows or hides this list anywhere these work.
 * Keys typed into a field, or with Ctrl, Alt or Meta held, are left alone. */
(function () {
  "use strict";

  // The live script replaces these elements with fresh copies: look them up each time.
  function listElement() {
    return document.getElementById("incident-list");
  }
  var onList = !!listElement();
  if (!onList && !document.querySelector(".actions-bar")) {
    return;
  }
  var current = -1;

  function rows() {
    var list = listElement();
    return list ? Array.prototype.slice.call(list.querySelectorAll("tbody tr")) : [];
  }

  function mark(index) {
    var all = rows();
    if (all.length === 0) {
      return;
    }
    current = Math.max(0, Math.min(index, all.length - 1));
    all.forEach(function (row, i) {
      if (i === current) {
        row.setAttribute("aria-current", "true");
      } else {
        row.removeAttribute("aria-current");
      }
    });
    var link = all[current].querySelector("a");
    if (link) {
      link.focus();
    }
  }

  // The row marked current, looked up again: the live script may have swapped the list.
  function currentRow() {
    var all = rows();
    var list = listElement();
    var marked = list && list.querySelector("tbody tr[aria-current]");
    if (marked) {
      current = all.indexOf(marked);
    }
    return current >= 0 ? all[current] : null;
  }

  function press(scope, verb) {
    if (!scope) {
      return;
    }
    var buttons = scope.querySelectorAll("button");
    for (var i = 0; i < buttons.length; i++) {
      if (buttons[i].textContent.trim() === verb) {
        buttons[i].click();
        return;
      }
    }
  }

  var help = document.createElement("aside");
  help.className = "shortcuts card";
  help.hidden = true;
  help.setAttribute("aria-label", "Keyboard shortcuts");
  help.innerHTML = onList
    ? "<h2>Keyboard shortcuts</h2><dl><dt>j / k</dt><dd>next / previous incident</dd>" +
      "<dt>Enter</dt><dd>open it</dd><dt>x</dt><dd>tick it</dd><dt>a</dt><dd>acknowledge it</dd>" +
      "<dt>r</dt><dd>resolve it</dd><dt>/</dt><dd>filters</dd><dt>?</dt><dd>this list</dd></dl>"
    : "<h2>Keyboard shortcuts</h2><dl><dt>a</dt><dd>acknowledge</dd><dt>r</dt><dd>resolve</dd>" +
      "<dt>?</dt><dd>this list</dd></dl>";
  document.querySelector("main").appendChild(help);

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.ctrlKey || event.altKey || event.metaKey || event.defaultPrevented) {
      return;
    }
    if (target && (target.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(target.tagName))) {
      return;
    }
    var key = event.key;
    var handled = true;
    if (key === "?") {
      help.hidden = !help.hidden;
    } else if (onList && key === "j") {
      currentRow();
      mark(current + 1);
    } else if (onList && key === "k") {
      currentRow();
      mark(current - 1);
    } else if (onList && key === "x") {
      var row = currentRow();
      var box = row && row.querySelector("input[type=checkbox]");
      if (box) {
        box.checked = !box.checked;
      }
    } else if (onList && key === "/") {
      var filter = document.getElementById("f-q");
      if (filter) {
        filter.focus();
      }
    } else if (key === "a" || key === "r") {
      var scope = onList ? currentRow() : document.querySelector(".actions-bar");
      press(scope, key === "a" ? "Acknowledge" : "Resolve");
    } else {
      handled = false;
    }
    if (handled) {
      event.preventDefault();
    }
  });
})();
