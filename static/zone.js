/* Klaxon: times in the browser's time zone, as an optional extra.
 *
 * Pages show times in the reader's own time zone when they chose one on their profile. When they
 * did not, the server uses the zone this script reports in the klaxon_tz cookie; without it
 * (JavaScript off, or a first page) it uses UTC. The page's <meta name="klaxon-zone"> says which
 * zone it shows (content) and whether it follows the browser's (data-follows: "browser";
 * "profile" when the reader's own choice wins; "fixed" for a form's answer, which must not be
 * sent again).
 * When the cookie is missing or stale the script sets it, and loads a page showing times again
 * once so they are right; a browser that refuses the cookie is not reloaded twice for one zone. */
(function () {
  "use strict";

  var COOKIE = "klaxon_tz";
  var TRIED = "klaxon_tz_reloaded_for";

  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (e) {
    return;
  }
  if (!zone || !/^[A-Za-z0-9_+\-\/]+$/.test(zone)) {
    return;
  }
  var shown = document.querySelector('meta[name="klaxon-zone"]');
  if (!shown) {
    return;
  }
  var current = null;
  var cookies = document.cookie ? document.cookie.split("; ") : [];
  for (var i = 0; i < cookies.length; i++) {
    var eq = cookies[i].indexOf("=");
    if (cookies[i].slice(0, eq) === COOKIE) {
      current = cookies[i].slice(eq + 1);
    }
  }
  if (current !== zone) {
    // The pattern above keeps to characters a cookie may carry as they are.
    document.cookie = COOKIE + "=" + zone +
      "; path=/; max-age=31536000; SameSite=Lax" +
      (window.location.protocol === "https:" ? "; Secure" : "");
  }
  // Only a page that follows the browser and shows another zone changes when loaded again. One
  // the server cannot read (it keeps UTC) would look stale forever: the guard below stops that
  // after one reload.
  var follows = shown.getAttribute("data-follows");
  if (follows !== "browser" || shown.getAttribute("content") === zone) {
    return;
  }
  // A page without times (signing in, the usual first page) is right as it is.
  if (!document.querySelector("time")) {
    return;
  }
  var tried;
  try {
    tried = window.sessionStorage.getItem(TRIED);
  } catch (e) {
    return; // without a way to remember the attempt, a reload could repeat
  }
  if (tried === zone) {
    return;
  }
  try {
    window.sessionStorage.setItem(TRIED, zone);
  } catch (e) {
    return;
  }
  window.location.reload();
})();
