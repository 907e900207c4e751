/* Klaxon: live pages, as an optional extra. Every page is complete without this script.
 *
 * An element with data-live-src names a cheap endpoint that answers {"version": "..."} and
 * carries, in data-live-version, the version its page was made at. Every few seconds (while the
 * tab is visible) the script asks for the version; when it moved, it fetches the page again and
 * swaps in the new content of each element marked data-live-region (matched by id). Forms the
 * user may be typing in are kept outside those regions, so nothing typed is lost, and the page
 * is not reloaded: scrolling and focus stay where they are. Served from 'self', no inline code,
 * as the Content-Security-Policy requires. */
(function () {
  "use strict";

  var INTERVAL_MS = 3000;
  var MAX_BACKOFF = 10;

  var root = document.querySelector("[data-live-src]");
  if (!root || !window.fetch || !window.DOMParser) {
    return;
  }
  var src = root.getAttribute("data-live-src");
  var version = root.getAttribute("data-live-version");
  var failures = 0;
  var timer = null;
  var running = false;

  document.documentElement.setAttribute("data-live", "on");

  // Tells screen readers, politely, that the page changed by itself.
  var status = document.createElement("p");
  status.className = "visually-hidden";
  status.setAttribute("role", "status");
  status.id = "live-status";
  document.body.appendChild(status);

  function schedule(delay) {
    clearTimeout(timer);
    timer = setTimeout(poll, delay);
  }

  function poll() {
    if (document.hidden || running) {
      return; // visibilitychange starts it again
    }
    running = true;
    fetch(src, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("version answered " + response.status);
        }
        return response.json();
      })
      .then(function (answer) {
        if (answer.version !== version) {
          return refresh();
        }
      })
      .then(
        function () {
          failures = 0;
        },
        function () {
          failures = Math.min(failures + 1, MAX_BACKOFF);
        }
      )
      .then(function () {
        running = false;
        schedule(INTERVAL_MS * (1 + failures));
      });
  }

  function refresh() {
    return fetch(window.location.href, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "text/html" }
    })
      .then(function (response) {
        // Signed out in the meantime (redirected to sign in), or an error page: leave the page
        // as it is; the next full navigation shows why.
        if (!response.ok || response.redirected) {
          throw new Error("page answered " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var freshRoot = fresh.querySelector("[data-live-src]");
        if (!freshRoot) {
          throw new Error("the page is no longer live");
        }
        var regions = document.querySelectorAll("[data-live-region]");
        for (var i = 0; i < regions.length; i++) {
          var next = fresh.getElementById(regions[i].id);
          if (next) {
            swap(regions[i], next);
          }
        }
        version = freshRoot.getAttribute("data-live-version");
        document.title = fresh.title;
        status.textContent = root.getAttribute("data-live-announce") || "Updated.";
      });
  }

  // Replaces a region, keeping keyboard focus on the same control if it is still there, the
  // boxes ticked in it (the incidents list's rows) still ticked, and the folds the reader opened
  // (the incident's timeline) still open.
  function swap(current, next) {
    var active = document.activeElement;
    var key = active && current.contains(active) ? focusKey(active) : null;
    var imported = document.importNode(next, true);
    var ticked = current.querySelectorAll("input[type=checkbox][id]:checked");
    for (var t = 0; t < ticked.length; t++) {
      var box = imported.querySelector("#" + CSS.escape(ticked[t].id));
      if (box) {
        box.checked = true;
      }
    }
    var opened = current.querySelectorAll("details[id][open]");
    for (var o = 0; o < opened.length; o++) {
      var fold = imported.querySelector("#" + CSS.escape(opened[o].id));
      if (fold) {
        fold.open = true;
      }
    }
    current.parentNode.replaceChild(imported, current);
    if (current === root || current.contains(root)) {
      root = document.querySelector("[data-live-src]") || root;
    }
    if (key) {
      var again = document.querySelector(key);
      if (again) {
        again.focus();
      }
    }
  }

  function focusKey(element) {
    if (element.id) {
      return "#" + CSS.escape(element.id);
    }
    if (element.tagName === "A" && element.getAttribute("href")) {
      return 'a[href="' + CSS.escape(element.getAttribute("href")) + '"]';
    }
    if (element.form && element.form.getAttribute("action")) {
      return 'form[action="' + CSS.escape(element.form.getAttribute("action")) + '"] ' +
        element.tagName.toLowerCase();
    }
    return null;
  }

  // Forms marked data-act-in-place (the incidents list's actions) are sent in the background:
  // the answer is the page they redirect to, whose regions and message replace the current
  // ones, so the list stays where it was. Without this script the same forms post and reload.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute || !form.hasAttribute("data-act-in-place")) {
      return;
    }
    var submitter = event.submitter;
    var action = submitter && submitter.hasAttribute("formaction")
      ? submitter.getAttribute("formaction")
      : form.getAttribute("action");
    var body = new URLSearchParams(new FormData(form));
    if (submitter && submitter.name) {
      body.append(submitter.name, submitter.value);
    }
    event.preventDefault();
    running = true;
    fetch(action, {
      method: "POST",
      credentials: "same-origin",
      body: body,
      headers: { Accept: "text/html" }
    })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("action answered " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var regions = document.querySelectorAll("[data-live-region]");
        for (var i = 0; i < regions.length; i++) {
          var next = fresh.getElementById(regions[i].id);
          if (next) {
            swap(regions[i], next);
          }
        }
        var freshRoot = fresh.querySelector("[data-live-src]");
        if (freshRoot) {
          version = freshRoot.getAttribute("data-live-version");
        }
        showMessage(fresh.querySelector("main > .flash"));
      })
      .catch(function () {
        // Whatever happened, the page as the server now has it tells the truth.
        window.location.assign(window.location.href);
      })
      .then(function () {
        running = false;
      });
  });

  function showMessage(fresh) {
    var current = document.querySelector("main > .flash");
    if (current) {
      current.parentNode.removeChild(current);
    }
    if (fresh) {
      var main = document.querySelector("main");
      main.insertBefore(document.importNode(fresh, true), main.firstChild);
    }
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      schedule(0);
    }
  });
  schedule(INTERVAL_MS);
})();
