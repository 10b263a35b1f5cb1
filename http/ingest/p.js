/* Firehook pixel. Snippet:
 *   <script async src="https://HOST/p.js" data-site="SITE_KEY"></script>
 * Keeps a first-party visitor id (fh_vid), sends one page view per page
 * (and per client-side navigation) with navigator.sendBeacon, falling back
 * to fetch with keepalive. Sends nothing when Global Privacy Control is on.
 * window.firehook.identify(email) sends the page view again with an email,
 * which the server hashes on arrival and never stores in clear. */
(function (w, d, n) {
  "use strict";
  var s = d.currentScript;
  if (!s || w.firehook) return;
  var site = s.getAttribute("data-site");
  if (!site || n.globalPrivacyControl === true) return;
  var endpoint = new URL(s.src, w.location.href).origin + "/v1/collect";
  var KEY = "fh_vid", YEAR = 31536000;

  function newId() {
    if (w.crypto && w.crypto.randomUUID) return w.crypto.randomUUID();
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }
  function readCookie() {
    var m = d.cookie.match(/(?:^|;\s*)fh_vid=([A-Za-z0-9._:-]{1,128})/);
    return m ? m[1] : "";
  }
  function visitorId() {
    var v = "";
    try { v = w.localStorage.getItem(KEY) || ""; } catch (e) {}
    v = v || readCookie() || newId();
    try { w.localStorage.setItem(KEY, v); } catch (e) {}
    d.cookie = KEY + "=" + v + "; Max-Age=" + YEAR + "; Path=/; SameSite=Lax" +
      (w.location.protocol === "https:" ? "; Secure" : "");
    return v;
  }
  var vid = visitorId(), last = "";

  function send(extra) {
    var body = { site: site, vid: vid, url: w.location.href, ref: d.referrer || "",
                 title: d.title || "", ts: Date.now() };
    for (var k in extra || {}) body[k] = extra[k];
    var data = JSON.stringify(body);
    try {
      // text/plain keeps the beacon a CORS "simple" request: no preflight.
      if (n.sendBeacon && n.sendBeacon(endpoint, new Blob([data], { type: "text/plain" }))) return;
    } catch (e) {}
    if (w.fetch) {
      w.fetch(endpoint, { method: "POST", body: data, keepalive: true, credentials: "omit",
                          headers: { "Content-Type": "text/plain" } }).catch(function () {});
    }
  }
  function pageview() {
    if (w.location.href === last) return;
    last = w.location.href;
    send();
  }
  // Single-page apps: count client-side navigations as page views.
  var push = w.history.pushState;
  w.history.pushState = function () { var r = push.apply(this, arguments); pageview(); return r; };
  w.addEventListener("popstate", pageview);

  w.firehook = {
    identify: function (email) { if (email) send({ email: String(email) }); },
    visitorId: function () { return vid; }
  };
  pageview();
})(window, document, navigator);
