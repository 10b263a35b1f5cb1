/* Firehook dashboard: a single-page app over the admin API, no framework.
 *
 * Security: every piece of data is rendered as text (textContent, or SVG
 * attributes), never parsed as markup. The token lives in sessionStorage
 * (this tab only) and goes out as Authorization: Bearer to this origin.
 *
 * Routes it reads (a 404 shows "—"): /v1/tenants, /v1/endpoints,
 * /v1/endpoints/{id}, /v1/endpoints/{id}/health, /v1/endpoints/{id}/deliveries,
 * /v1/deliveries/{id}, /v1/pipeline, /v1/actors. */
(function () {
  "use strict";

  var POLL_MS = 2000;
  var SERIES_POINTS = 150; // 5 minutes of 2 s samples
  var TOKEN_KEY = "firehook.token";
  var PAGE_SIZE = 25;
  var FALLBACK_RECEIPTS = 200; // receipts read per endpoint when /health is not served
  var PALETTE = ["#ff5a1f", "#3563e9", "#12805c", "#9b51e0", "#d97706", "#0891b2", "#db2777", "#4b5563"];

  // ---------------------------------------------------------------- state
  var state = {
    token: "",
    tenants: [],
    endpoints: [],
    health: {},    // endpoint id → health (or the approximation from receipts)
    series: {},    // endpoint id → [{t, p50, p99}]
    served: {},    // route name → false once it answered 404
    pipeline: null, // the last GET /v1/pipeline
    view: null,    // the mounted view: {refresh(), destroy?()}
    viewGen: 0,
    timer: 0,
    polling: false,
    again: false,  // a refresh was asked for while one ran
    lastOK: 0
  };

  // ---------------------------------------------------------------- DOM helpers
  function $(id) { return document.getElementById(id); }

  // el(tag, props, children...): props.text sets textContent, props.cls the
  // class, props.on{Event} handlers, others become attributes. Children are
  // nodes or strings (turned into text nodes), arrays are flattened.
  function el(tag, props) {
    var node = document.createElement(tag);
    setProps(node, props);
    appendAll(node, Array.prototype.slice.call(arguments, 2));
    return node;
  }

  var SVGNS = "http://www.w3.org/2000/svg";
  function sv(tag, attrs) {
    var node = document.createElementNS(SVGNS, tag);
    for (var k in attrs || {}) {
      if (k === "text") node.textContent = attrs[k];
      else if (attrs[k] !== undefined && attrs[k] !== null) node.setAttribute(k, String(attrs[k]));
    }
    appendAll(node, Array.prototype.slice.call(arguments, 2));
    return node;
  }

  function setProps(node, props) {
    for (var k in props || {}) {
      var v = props[k];
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") node.textContent = String(v);
      else if (k === "cls") node.className = v;
      else if (k.slice(0, 2) === "on" && typeof v === "function") node.addEventListener(k.slice(2).toLowerCase(), v);
      else if (v === true) node.setAttribute(k, "");
      else node.setAttribute(k, String(v));
    }
  }

  function appendAll(node, children) {
    children.forEach(function (c) {
      if (c === null || c === undefined || c === false) return;
      if (Array.isArray(c)) appendAll(node, c);
      else if (typeof c === "string" || typeof c === "number") node.appendChild(document.createTextNode(String(c)));
      else node.appendChild(c);
    });
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

  function toast(msg, bad) {
    var t = el("div", { cls: "toast" + (bad ? " bad" : ""), text: msg });
    $("toasts").appendChild(t);
    setTimeout(function () { t.remove(); }, 4500);
  }

  // ---------------------------------------------------------------- formatting
  var DASH = "—";
  function isNum(v) { return typeof v === "number" && isFinite(v); }
  function fmtInt(v) { return isNum(v) ? Math.round(v).toLocaleString("en-US") : DASH; }
  function fmtMs(v) {
    if (!isNum(v)) return DASH;
    if (v >= 10000) return (v / 1000).toFixed(1) + " s";
    if (v >= 1000) return (v / 1000).toFixed(2) + " s";
    if (v >= 100) return Math.round(v) + " ms";
    if (v >= 10) return v.toFixed(1).replace(/\.0$/, "") + " ms";
    return v.toFixed(2).replace(/\.?0+$/, "") + " ms";
  }
  // A share: 0..1 (or 0..100 when a route says percent).
  function share(v) {
    if (!isNum(v)) return null;
    return v > 1 ? v / 100 : v;
  }
  function fmtPct(v) {
    var s = share(v);
    if (s === null) return DASH;
    var p = s * 100;
    return (p === 100 || p === 0 ? p.toFixed(0) : p >= 99.95 ? "99.9+" : p.toFixed(1)) + " %";
  }
  function parseTime(v) {
    if (!v) return null;
    var t = typeof v === "number" ? v : Date.parse(v);
    if (!isFinite(t) || t <= 0 || t < Date.UTC(2000, 0, 1)) return null; // Go's zero time
    return t;
  }
  function fmtAgo(v) {
    var t = parseTime(v);
    if (t === null) return DASH;
    var s = Math.round((Date.now() - t) / 1000);
    if (s < -1) return "in " + fmtSpan(-s);
    if (s < 2) return "just now";
    return fmtSpan(s) + " ago";
  }
  function fmtSpan(s) {
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min";
    if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
    return Math.floor(s / 86400) + " d";
  }
  function fmtTime(v) {
    var t = parseTime(v);
    if (t === null) return DASH;
    var d = new Date(t);
    return d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" }) +
      "." + String(d.getMilliseconds()).padStart(3, "0");
  }
  function pick(o, names) {
    if (!o || typeof o !== "object") return undefined;
    for (var i = 0; i < names.length; i++) if (o[names[i]] !== undefined && o[names[i]] !== null) return o[names[i]];
    return undefined;
  }
  function num(o, names) { var v = pick(o, names); return isNum(v) ? v : (typeof v === "string" && v !== "" && isFinite(+v) ? +v : null); }

  // ---------------------------------------------------------------- API
  function ApiError(status, code, message) { this.status = status; this.code = code; this.message = message; }

  function api(method, path, body) {
    var opts = { method: method, headers: { "Authorization": "Bearer " + state.token, "Accept": "application/json" }, cache: "no-store" };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(path, opts).then(function (resp) {
      return resp.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (resp.status === 401 && path.indexOf("/dashboard/") !== 0) {
          signOut("The node refused the token (it may have been changed). Sign in again.");
          throw new ApiError(401, "unauthorized", "token refused");
        }
        if (!resp.ok) throw new ApiError(resp.status, data && data.code, (data && data.error) || ("HTTP " + resp.status));
        return data;
      });
    });
  }

  // optional calls a route that a node may not serve yet: null on 404.
  function optional(name, method, path) {
    return api(method, path).then(function (d) { state.served[name] = true; return d; }, function (e) {
      if (e instanceof ApiError && e.status === 404) { if (state.served[name] !== true) state.served[name] = false; return null; }
      throw e;
    });
  }

  function seg(s) { return encodeURIComponent(s); }

  // Runs fn over items, at most n at a time.
  function limited(items, n, fn) {
    var out = new Array(items.length), next = 0;
    function worker() {
      if (next >= items.length) return Promise.resolve();
      var i = next++;
      return Promise.resolve(fn(items[i], i)).then(function (v) { out[i] = v; }, function () { out[i] = null; }).then(worker);
    }
    var ws = [];
    for (var k = 0; k < Math.min(n, items.length); k++) ws.push(worker());
    return Promise.all(ws).then(function () { return out; });
  }

  // ---------------------------------------------------------------- health
  // health of one endpoint: GET …/health, or, when the node does not serve
  // it, figures computed from its newest receipts (marked approx).
  function fetchHealth(ep) {
    if (state.served.health === false) return approxHealth(ep);
    return optional("health", "GET", "/v1/endpoints/" + seg(ep.id) + "/health").then(function (h) {
      return h === null ? approxHealth(ep) : h;
    });
  }

  function approxHealth(ep) {
    return api("GET", "/v1/endpoints/" + seg(ep.id) + "/deliveries?limit=" + FALLBACK_RECEIPTS).then(function (d) {
      var list = (d && d.deliveries) || [];
      var h = { approx: true, window: list.length, more: !!(d && d.next_cursor), delivered: 0, failed: 0, pending: 0, retrying: 0, retries: 0,
                state: ep.state === "disabled" ? "disabled" : null, last_success_at: null, last_failure_at: null };
      var durations = [];
      list.forEach(function (x) {
        if (h[x.status] !== undefined) h[x.status]++;
        var atts = x.attempts || [];
        h.retries += Math.max(0, atts.length - 1);
        atts.forEach(function (a) {
          var ok = a.status_code >= 200 && a.status_code < 300;
          var key = ok ? "last_success_at" : "last_failure_at";
          if (!h[key] || parseTime(a.at) > parseTime(h[key])) h[key] = a.at;
          if (ok && isNum(a.duration_ms)) durations.push(a.duration_ms);
        });
      });
      var done = h.delivered + h.failed;
      h.success_rate = done ? h.delivered / done : null;
      durations.sort(function (a, b) { return a - b; });
      h.p50_ms = quantile(durations, 0.5);
      h.p99_ms = quantile(durations, 0.99);
      return h;
    });
  }

  function quantile(sorted, q) {
    if (!sorted.length) return null;
    return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  }

  // healthState is the state badge of an endpoint: the health route's, or
  // the stored enabled/disabled while only the approximation is known.
  function healthState(ep, h) {
    var s = (h && h.state) || (ep && ep.state) || "";
    var cls = { healthy: "good", enabled: "good", degraded: "warn", circuit_open: "bad", disabled: "" }[s];
    return el("span", { cls: "badge " + (cls === undefined ? "info" : cls), text: s ? s.replace(/_/g, " ") : DASH });
  }

  // ---------------------------------------------------------------- polling
  // refreshFleet reads tenants, endpoints and every endpoint's health, and
  // appends the latency samples of the chart.
  function refreshFleet() {
    var pipe = state.served.pipeline === false ? Promise.resolve(null) : optional("pipeline", "GET", "/v1/pipeline").catch(function () { return null; });
    return Promise.all([api("GET", "/v1/tenants"), api("GET", "/v1/endpoints"), pipe]).then(function (r) {
      state.tenants = (r[0] && r[0].tenants) || [];
      state.endpoints = (r[1] && r[1].endpoints) || [];
      if (r[2]) state.pipeline = r[2];
      return limited(state.endpoints, 6, fetchHealth);
    }).then(function (hs) {
      var now = Date.now(), seen = {};
      state.endpoints.forEach(function (ep, i) {
        seen[ep.id] = true;
        if (hs[i]) state.health[ep.id] = hs[i];
        var h = state.health[ep.id];
        var s = state.series[ep.id] || (state.series[ep.id] = []);
        if (h) s.push({ t: now, p50: num(h, ["p50_ms"]), p99: num(h, ["p99_ms"]) });
        if (s.length > SERIES_POINTS) s.splice(0, s.length - SERIES_POINTS);
      });
      Object.keys(state.health).forEach(function (id) { if (!seen[id]) { delete state.health[id]; delete state.series[id]; } });
    });
  }

  function schedule(delay) {
    clearTimeout(state.timer);
    state.timer = setTimeout(tick, delay === undefined ? POLL_MS : delay);
  }

  function tick() {
    if (!state.token) return;
    if (document.hidden) { schedule(); return; }
    if (state.polling) { state.again = true; return; }
    state.polling = true;
    var gen = state.viewGen;
    refreshFleet().then(function () {
      if (state.view && gen === state.viewGen) return state.view.refresh();
    }).then(function () {
      state.lastOK = Date.now();
      setLive(true);
    }, function (e) {
      if (e instanceof ApiError && e.status === 401) return;
      setLive(false, e);
    }).then(function () {
      state.polling = false;
      var again = state.again;
      state.again = false;
      if (state.token) schedule(again ? 0 : POLL_MS);
    });
  }

  function refreshNow() { schedule(0); }

  function setLive(ok, err) {
    var live = $("live");
    live.className = "live " + (ok ? "ok" : "bad");
    $("live-text").textContent = ok ? "Live · " + new Date().toLocaleTimeString() :
      "Reconnecting… " + (err && err.message ? "(" + err.message + ")" : "");
  }

  // ---------------------------------------------------------------- login
  function showLogin(message) {
    $("app").hidden = true;
    $("login").hidden = false;
    var e = $("login-error");
    e.hidden = !message;
    e.textContent = message || "";
    $("token").focus();
  }

  function signIn(token) {
    state.token = token;
    return api("GET", "/v1/tenants").then(function () {
      try { sessionStorage.setItem(TOKEN_KEY, token); } catch (e) { /* private mode: the tab keeps it in memory */ }
      $("login").hidden = true;
      $("app").hidden = false;
      $("who").textContent = token.indexOf("fhk_") === 0 ? "tenant key" : "operator";
      route();
    }, function (e) {
      state.token = "";
      throw e;
    });
  }

  function signOut(message) {
    state.token = "";
    clearTimeout(state.timer);
    try { sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* nothing stored */ }
    if (state.view && state.view.destroy) state.view.destroy();
    state.view = null;
    state.health = {};
    state.series = {};
    showLogin(message);
  }

  function onLoginSubmit(ev) {
    ev.preventDefault();
    var token = $("token").value.trim();
    if (!token) return;
    var btn = $("login-submit");
    btn.disabled = true;
    signIn(token).then(function () { $("token").value = ""; }, function (e) {
      showLogin(e.status === 401 || e.status === 403 ? "That token was refused." : "Cannot reach the node: " + e.message);
    }).then(function () { btn.disabled = false; });
  }

  // A one-time login link: #login=CODE, exchanged once for the token.
  function redeemLoginCode(code) {
    history.replaceState(null, "", location.pathname + "#/endpoints");
    return fetch("/dashboard/login", {
      method: "POST", headers: { "Content-Type": "application/json" }, cache: "no-store",
      body: JSON.stringify({ code: code })
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (d) {
        if (!resp.ok || !d.token) throw new Error(d.error || "this login link is not valid");
        return d.token;
      });
    });
  }

  function start() {
    $("login-form").addEventListener("submit", onLoginSubmit);
    $("logout").addEventListener("click", function () { signOut(""); });
    window.addEventListener("hashchange", function () { if (state.token) route(); });
    document.addEventListener("visibilitychange", function () { if (!document.hidden && state.token) refreshNow(); });

    var m = /^#login=([A-Za-z0-9_-]+)$/.exec(location.hash);
    if (m) {
      redeemLoginCode(m[1]).then(signIn).catch(function (e) {
        showLogin("This login link is unknown, expired or already used. Sign in with the admin token instead.");
        if (window.console) console.warn("login link:", e.message);
      });
      return;
    }
    var saved = "";
    try { saved = sessionStorage.getItem(TOKEN_KEY) || ""; } catch (e) { saved = ""; }
    if (saved) {
      signIn(saved).catch(function () { showLogin("Your session ended. Sign in again."); });
    } else {
      showLogin("");
    }
  }

  // ---------------------------------------------------------------- router
  function route() {
    var hash = location.hash.replace(/^#\/?/, "");
    var parts = hash.split("/").filter(Boolean).map(decodeURIComponent);
    var view;
    if (parts[0] === "endpoints" && parts[1]) view = endpointView(parts[1]);
    else if (parts[0] === "deliveries" && parts[1]) view = deliveryView(parts[1]);
    else if (parts[0] === "pipeline") view = pipelineView();
    else if (parts[0] === "actors") view = actorsView();
    else view = overviewView();
    var nav = parts[0] === "deliveries" ? "endpoints" : (parts[0] || "endpoints");
    Array.prototype.forEach.call(document.querySelectorAll("[data-nav]"), function (a) {
      a.classList.toggle("active", a.getAttribute("data-nav") === nav);
    });
    if (state.view && state.view.destroy) state.view.destroy();
    state.viewGen++;
    state.view = view;
    clear($("view")).appendChild(view.root);
    // Render what is known at once, then poll.
    if (state.endpoints.length) Promise.resolve(view.refresh()).catch(function () {});
    refreshNow();
    window.scrollTo(0, 0);
  }

  // ---------------------------------------------------------------- charts
  function color(i) { return PALETTE[i % PALETTE.length]; }

  // niceMax rounds a maximum up to 1, 2 or 5 × 10^n.
  function niceMax(v) {
    if (!(v > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var m = v / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }

  // lineChart draws series [{label, color, dashed, points: [{t, v}]}] over
  // the last SERIES_POINTS × POLL_MS.
  function lineChart(series, opts) {
    opts = opts || {};
    var W = opts.width || 860, H = opts.height || 230, L = 58, R = 14, T = 12, B = 26;
    // The x axis spans the samples kept: from one minute up to five.
    var now = Date.now(), first = now;
    series.forEach(function (s) { if (s.points.length) first = Math.min(first, s.points[0].t); });
    var span = Math.min(SERIES_POINTS * POLL_MS, Math.max(60000, now - first)), t0 = now - span;
    var max = 0, any = false;
    series.forEach(function (s) { s.points.forEach(function (p) { if (isNum(p.v) && p.t >= t0) { any = true; max = Math.max(max, p.v); } }); });
    if (!any) return el("div", { cls: "chart-empty", text: opts.empty || "No latency samples yet: they appear as deliveries complete." });
    var top = niceMax(max * 1.1);
    var x = function (t) { return L + (t - t0) / span * (W - L - R); };
    var y = function (v) { return T + (1 - v / top) * (H - T - B); };
    var g = sv("svg", { viewBox: "0 0 " + W + " " + H, "class": "chart", role: "img", "aria-label": opts.label || "latency chart" });
    for (var i = 0; i <= 4; i++) {
      var v = top * i / 4, yy = y(v);
      g.appendChild(sv("line", { x1: L, x2: W - R, y1: yy, y2: yy, "class": i === 0 ? "axis" : "grid-line" }));
      g.appendChild(sv("text", { x: L - 8, y: yy + 4, "text-anchor": "end", text: fmtMs(v) }));
    }
    for (var m = 0; m <= 5; m++) {
      var tt = t0 + span * m / 5;
      g.appendChild(sv("text", { x: x(tt), y: H - 8, "text-anchor": m === 0 ? "start" : m === 5 ? "end" : "middle",
        text: m === 5 ? "now" : "−" + fmtSpan(Math.round((now - tt) / 1000)) }));
      if (m > 0 && m < 5) g.appendChild(sv("line", { x1: x(tt), x2: x(tt), y1: T, y2: H - B, "class": "grid-line" }));
    }
    series.forEach(function (s) {
      var d = "", pen = false;
      s.points.forEach(function (p) {
        if (p.t < t0 || !isNum(p.v)) { pen = false; return; }
        d += (pen ? "L" : "M") + x(p.t).toFixed(1) + " " + y(p.v).toFixed(1);
        pen = true;
      });
      if (d) {
        g.appendChild(sv("path", { d: d, fill: "none", stroke: s.color, "stroke-width": s.dashed ? 1.5 : 2.2,
          "stroke-dasharray": s.dashed ? "5 4" : null, "stroke-linejoin": "round", "stroke-linecap": "round" },
          sv("title", { text: s.label })));
      }
      var last = null;
      s.points.forEach(function (p) { if (p.t >= t0 && isNum(p.v)) last = p; });
      if (last) g.appendChild(sv("circle", { cx: x(last.t), cy: y(last.v), r: 3, fill: s.color }, sv("title", { text: s.label + ": " + fmtMs(last.v) })));
    });
    return g;
  }

  function legend(items) {
    return el("div", { cls: "legend" }, items.map(function (it) {
      var sw = el("span", { cls: "swatch" + (it.dashed ? " dashed" : "") });
      sw.style.background = it.color;
      sw.style.color = it.color;
      return el("span", { cls: "key" }, sw, it.label);
    }));
  }

  function latencySeries(eps) {
    var lines = [], keys = [];
    eps.forEach(function (ep) {
      var i = state.endpoints.indexOf(ep), c = color(i < 0 ? 0 : i);
      var pts = state.series[ep.id] || [];
      var name = epName(ep);
      lines.push({ label: name + " p99", color: c, points: pts.map(function (p) { return { t: p.t, v: p.p99 }; }) });
      lines.push({ label: name + " p50", color: c, dashed: true, points: pts.map(function (p) { return { t: p.t, v: p.p50 }; }) });
      keys.push({ label: name, color: c });
    });
    keys.push({ label: "solid p99 · dashed p50", color: "#7a8294", dashed: true });
    return { lines: lines, keys: keys };
  }

  function epName(ep) {
    if (ep.description) return ep.description;
    try { var u = new URL(ep.url); return u.host + u.pathname; } catch (e) { return ep.url || ep.id; }
  }

  // ---------------------------------------------------------------- components
  function stat(label, value, cls, hint) {
    return el("div", { cls: "stat " + (cls || "") }, el("div", { cls: "label", text: label }), el("div", { cls: "value", text: value }),
      hint ? el("div", { cls: "hint", text: hint }) : null);
  }

  function rateCell(v) {
    var s = share(v);
    if (s === null) return el("td", { cls: "num", text: DASH });
    var fill = el("span");
    fill.style.width = (s * 100).toFixed(1) + "%";
    return el("td", { cls: "num" }, el("span", { cls: "rate" }, el("span", { cls: "bar" }, fill), fmtPct(s)));
  }

  function statusBadge(s) {
    var cls = { delivered: "good", pending: "info", retrying: "warn", failed: "bad" }[s] || "";
    return el("span", { cls: "badge " + cls, text: s || DASH });
  }

  function codeSpan(code) {
    var k = !code ? "code-0" : code < 300 ? "code-2xx" : code < 500 ? "code-4xx" : "code-5xx";
    return el("span", { cls: k, text: code ? String(code) : "no answer" });
  }

  function card(title, meta, body, extra) {
    return el("section", { cls: "card" },
      el("div", { cls: "card-head" }, el("h2", { text: title }), meta ? (typeof meta === "string" ? el("span", { cls: "meta", text: meta }) : meta) : null),
      body, extra || null);
  }

  function toggleEndpoint(ep) {
    var disabling = ep.state !== "disabled";
    if (disabling && !window.confirm("Disable " + epName(ep) + "? It stops receiving webhooks until it is enabled again.")) return;
    api("POST", "/v1/endpoints/" + seg(ep.id) + (disabling ? "/disable" : "/enable"), {}).then(function () {
      toast((disabling ? "Disabled " : "Enabled ") + epName(ep));
      refreshNow();
    }, function (e) { toast("Could not " + (disabling ? "disable" : "enable") + ": " + e.message, true); });
  }

  function toggleButton(ep, small) {
    var disabled = ep.state === "disabled";
    return el("button", { type: "button", cls: "btn" + (small ? " btn-small" : "") + (disabled ? "" : " btn-danger"),
      text: disabled ? "Enable" : "Disable", "data-action": disabled ? "enable" : "disable",
      onclick: function (ev) { ev.stopPropagation(); toggleEndpoint(ep); } });
  }

  function fmBudget(h) {
    var v = h ? h.first_match_within_budget : undefined;
    if (v && typeof v === "object") v = num(v, ["share", "ratio", "within", "value", "percent"]);
    return v;
  }

  // ---------------------------------------------------------------- overview
  function overviewView() {
    var statsBox = el("div", { cls: "stats" });
    var tenantsBox = el("div", { cls: "grid" });
    var chartBody = el("div", { cls: "card-body" });
    var chartLegend = el("div");
    var note = el("div", { cls: "note", hidden: true });
    var root = el("div", {},
      el("div", { cls: "page-head" }, el("div", {}, el("h1", { text: "Endpoints" }),
        el("div", { cls: "sub", text: "Delivery health of every webhook endpoint, live. Click a row for its receipts." }))),
      statsBox, tenantsBox,
      el("div", { cls: "section" }, card("Delivery latency", "webhook POST p50 and p99 per endpoint, up to the last 5 minutes", chartBody, chartLegend)),
      note);

    function refresh() {
      var eps = state.endpoints;
      var tot = { delivered: 0, failed: 0, pending: 0, retrying: 0 }, worst = null, known = false, approx = false;
      eps.forEach(function (ep) {
        var h = state.health[ep.id];
        if (!h) return;
        known = true;
        approx = approx || !!h.approx;
        Object.keys(tot).forEach(function (k) { if (isNum(h[k])) tot[k] += h[k]; });
        var p99 = num(h, ["p99_ms"]);
        if (p99 !== null) worst = Math.max(worst || 0, p99);
      });
      var done = tot.delivered + tot.failed, rate = done ? tot.delivered / done : null;
      var win = state.pipeline && num(state.pipeline, ["window_s"]);
      var inWin = known && !approx && win ? "last " + fmtSpan(win) : approx ? "latest receipts" : null;
      clear(statsBox);
      appendAll(statsBox, [
        stat("Tenants", fmtInt(state.tenants.length)),
        stat("Endpoints", fmtInt(eps.length), "", fmtInt(eps.filter(function (e) { return e.state === "disabled"; }).length) + " disabled"),
        stat("Delivered", known ? fmtInt(tot.delivered) : DASH, "good", inWin),
        stat("Failed", known ? fmtInt(tot.failed) : DASH, tot.failed ? "bad" : "", inWin),
        stat("Pending · retrying", known ? fmtInt(tot.pending) + " · " + fmtInt(tot.retrying) : DASH, tot.retrying ? "warn" : ""),
        stat("Success rate", fmtPct(rate), rate === null ? "" : rate >= 0.99 ? "good" : rate >= 0.9 ? "warn" : "bad"),
        stat("Worst p99", fmtMs(worst))
      ]);

      clear(tenantsBox);
      var byTenant = {};
      eps.forEach(function (ep) { (byTenant[ep.tenant_id] = byTenant[ep.tenant_id] || []).push(ep); });
      var tenants = state.tenants.slice();
      Object.keys(byTenant).forEach(function (id) {
        if (!tenants.some(function (t) { return t.id === id; })) tenants.push({ id: id, name: id });
      });
      if (!tenants.length) tenantsBox.appendChild(el("div", { cls: "card empty", text: "No tenants yet. Create one with POST /v1/tenants." }));
      tenants.forEach(function (t) { tenantsBox.appendChild(tenantCard(t, byTenant[t.id] || [])); });

      clear(chartBody);
      var ls = latencySeries(eps);
      chartBody.appendChild(lineChart(ls.lines));
      clear(chartLegend).appendChild(legend(ls.keys));

      note.hidden = !approx;
      note.textContent = approx ? "≈ This node does not serve GET /v1/endpoints/{id}/health: the figures are computed from each endpoint's latest " +
        FALLBACK_RECEIPTS + " receipts." : "";
    }

    return { root: root, refresh: refresh };
  }

  function tenantCard(t, eps) {
    var fm = [];
    eps.forEach(function (ep) { var v = share(fmBudget(state.health[ep.id])); if (v !== null) fm.push(v); });
    var tb = state.pipeline && asList(state.pipeline.tenants).filter(function (x) { return x.tenant_id === t.id; })[0];
    var tFM = share(num(tb, ["share"]));
    if (tFM === null && !tb && fm.length) tFM = fm.reduce(function (a, b) { return a + b; }, 0) / fm.length;
    var meta = el("div", { cls: "actions" },
      t.tier ? el("span", { cls: "badge tier plain", text: t.tier }) : null,
      el("span", { cls: "meta mono", text: t.id }),
      tFM !== null ? el("span", { cls: "badge plain " + (tFM >= 0.99 ? "good" : tFM >= 0.9 ? "warn" : "bad"), title: "Share of First Match deliveries delivered within the tier's budget" + (tb ? " (" + fmtInt(tb.within_budget) + " of " + fmtInt(tb.first_match_deliveries) + ", budget " + fmtMs(tb.budget_ms) + ")" : ""),
        text: "First Match in budget " + fmtPct(tFM) }) : null);
    var rows = eps.map(function (ep) {
      var h = state.health[ep.id] || {};
      var tr = el("tr", { cls: "clickable", "data-endpoint": ep.id, onclick: function () { location.hash = "#/endpoints/" + seg(ep.id); } },
        el("td", {}, healthState(ep, state.health[ep.id])),
        el("td", { cls: "col-endpoint" }, el("div", { cls: "primary", text: epName(ep) }), el("div", { cls: "url", text: ep.url })),
        el("td", { cls: "num", "data-col": "delivered", text: fmtInt(h.delivered) }),
        el("td", { cls: "num", "data-col": "failed", text: fmtInt(h.failed) }),
        el("td", { cls: "num", "data-col": "pending", text: fmtInt(h.pending) }),
        el("td", { cls: "num", "data-col": "retrying", text: fmtInt(h.retrying) }),
        rateCell(h.success_rate),
        el("td", { cls: "num", text: fmtMs(num(h, ["p50_ms"])) }),
        el("td", { cls: "num", text: fmtMs(num(h, ["p99_ms"])) }),
        el("td", { cls: "num", text: fmtPct(fmBudget(h)) }),
        el("td", { cls: "num", title: fmtTime(h.last_success_at), text: fmtAgo(h.last_success_at) }),
        el("td", { cls: "num" }, toggleButton(ep, true)));
      return tr;
    });
    var table = el("table", { "data-tenant": t.id },
      el("thead", {}, el("tr", {}, ["State", "Endpoint", "Delivered", "Failed", "Pending", "Retrying", "Success", "p50", "p99", "FM ≤ budget", "Last success", ""].map(function (c, i) {
        return el("th", { cls: i >= 2 ? "num" : "", text: c });
      }))),
      el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: 12, cls: "empty", text: "No endpoints." }))));
    return card(t.name || t.id, meta, el("div", { cls: "table-wrap" }, table));
  }

  // ---------------------------------------------------------------- endpoint detail
  function endpointView(id) {
    var head = el("div", { cls: "page-head" });
    var statsBox = el("div", { cls: "stats" });
    var chartBody = el("div", { cls: "card-body" });
    var chartLegend = el("div");
    var receiptsBody = el("tbody");
    var pageInfo = el("span", { cls: "muted small" });
    var statusSel = el("select", { "aria-label": "Status filter" }, ["", "pending", "delivered", "retrying", "failed"].map(function (s) {
      return el("option", { value: s, text: s || "all statuses" });
    }));
    var cursors = [""]; // cursor of each page seen; the last is the current page's
    var nextCursor = "";
    var prevBtn = el("button", { type: "button", cls: "btn btn-small", text: "← Newer", onclick: function () { if (cursors.length > 1) { cursors.pop(); loadReceipts(); } } });
    var nextBtn = el("button", { type: "button", cls: "btn btn-small", text: "Older →", onclick: function () { if (nextCursor) { cursors.push(nextCursor); loadReceipts(); } } });
    statusSel.addEventListener("change", function () { cursors = [""]; loadReceipts(); });

    var since = el("input", { type: "datetime-local", "aria-label": "Replay since", step: 1 });
    since.value = localInput(new Date(Date.now() - 3600e3));
    var replayStatus = el("select", { "aria-label": "Replay which" }, [["failed", "failed"], ["", "all"], ["delivered", "delivered"], ["retrying", "retrying"], ["pending", "pending"]].map(function (o) {
      return el("option", { value: o[0], text: o[1] });
    }));
    var replayForm = el("form", { cls: "inline-form", onsubmit: function (ev) {
      ev.preventDefault();
      var t = new Date(since.value);
      if (isNaN(t.getTime())) { toast("Pick a time to replay from.", true); return; }
      var which = replayStatus.value || "all";
      if (!window.confirm("Replay " + which + " deliveries of this endpoint created since " + t.toLocaleString() + "?")) return;
      api("POST", "/v1/endpoints/" + seg(id) + "/replay", { since: t.toISOString().replace(/\.\d{3}Z$/, "Z"), status: replayStatus.value }).then(function (r) {
        toast("Replaying " + fmtInt(r && r.replayed) + " deliveries.");
        refreshNow();
      }, function (e) { toast("Replay failed: " + e.message, true); });
    } }, el("label", { text: "Replay since" }), since, replayStatus, el("button", { type: "submit", cls: "btn btn-small", text: "Replay", "data-action": "replay-since" }));

    var root = el("div", {}, head, statsBox,
      el("div", { cls: "grid grid-2" },
        card("Latency", "p50 and p99, last 5 minutes", chartBody, chartLegend),
        card("Replay", "deliver again with the same event ids", el("div", { cls: "card-body" }, replayForm,
          el("p", { cls: "muted small", text: "Replayed deliveries go to the back of their person's lane and are retried on the usual schedule." })))),
      el("div", { cls: "section" }, card("Receipts", el("div", { cls: "inline-form" }, el("label", { text: "Status" }), statusSel),
        el("div", { cls: "table-wrap" }, el("table", {},
          el("thead", {}, el("tr", {}, ["Delivery", "Type", "Seq", "Status", "Attempts", "Last answer", "Duration", "Created", ""].map(function (c, i) {
            return el("th", { cls: [2, 4, 6].indexOf(i) >= 0 ? "num" : "", text: c });
          }))), receiptsBody)),
        el("div", { cls: "pager" }, prevBtn, pageInfo, nextBtn))));

    var ep = null, lastSig = "";
    function renderHead() {
      var h = state.health[id] || {};
      clear(head);
      appendAll(head, [
        el("div", {}, el("div", { cls: "crumbs" }, el("a", { href: "#/endpoints", text: "Endpoints" }), " / ", el("span", { cls: "mono", text: id })),
          el("h1", { text: ep ? epName(ep) : id }),
          el("div", { cls: "sub" }, ep ? el("span", { cls: "url", text: ep.url }) : null)),
        el("div", { cls: "actions" }, healthState(ep, state.health[id]), ep ? toggleButton(ep) : null)
      ]);
      clear(statsBox);
      appendAll(statsBox, [
        stat("Delivered", fmtInt(h.delivered), "good"),
        stat("Failed", fmtInt(h.failed), h.failed ? "bad" : ""),
        stat("Pending · retrying", fmtInt(h.pending) + " · " + fmtInt(h.retrying), h.retrying ? "warn" : ""),
        stat("Success rate", fmtPct(h.success_rate)),
        stat("p50", fmtMs(num(h, ["p50_ms"]))),
        stat("p99", fmtMs(num(h, ["p99_ms"]))),
        stat("Retries", fmtInt(h.retries)),
        stat("Last success", fmtAgo(h.last_success_at), "", h.last_failure_at ? "last failure " + fmtAgo(h.last_failure_at) : null)
      ]);
      if (h.approx) statsBox.appendChild(el("div", { cls: "stat" }, el("div", { cls: "label", text: "Source" }),
        el("div", { cls: "hint", text: "≈ computed from the latest " + fmtInt(h.window) + " receipts (no /health route on this node)" })));
      clear(chartBody);
      var ls = ep ? latencySeries([ep]) : { lines: [], keys: [] };
      chartBody.appendChild(lineChart(ls.lines, { width: 560, height: 240 }));
      clear(chartLegend).appendChild(legend(ls.keys));
    }

    function loadReceipts() {
      var cur = cursors[cursors.length - 1];
      var q = "?limit=" + PAGE_SIZE + (statusSel.value ? "&status=" + seg(statusSel.value) : "") + (cur ? "&cursor=" + seg(cur) : "");
      return api("GET", "/v1/endpoints/" + seg(id) + "/deliveries" + q).then(function (d) {
        var list = (d && d.deliveries) || [];
        nextCursor = (d && d.next_cursor) || "";
        // Unchanged: keep the rows (and what the user points at); only
        // the relative times move on.
        var sig = q + JSON.stringify(list);
        if (sig === lastSig) { refreshAgo(receiptsBody); return; }
        lastSig = sig;
        clear(receiptsBody);
        if (!list.length) receiptsBody.appendChild(el("tr", {}, el("td", { colspan: 9, cls: "empty", text: "No receipts" + (statusSel.value ? " with status " + statusSel.value : "") + "." })));
        list.forEach(function (x) { receiptsBody.appendChild(receiptRow(x)); });
        prevBtn.disabled = cursors.length <= 1;
        nextBtn.disabled = !nextCursor;
        pageInfo.textContent = "Page " + cursors.length + (list.length ? " · " + list.length + " receipts" : "");
      });
    }

    function refresh() {
      ep = state.endpoints.filter(function (e) { return e.id === id; })[0] || ep;
      var p = ep ? Promise.resolve() : api("GET", "/v1/endpoints/" + seg(id)).then(function (e) { ep = e; });
      return p.then(function () { renderHead(); return loadReceipts(); }, function (e) {
        if (e instanceof ApiError && e.status === 404) {
          clear(root).appendChild(el("div", { cls: "card empty", text: "No endpoint " + id + " (deleted, or not yours)." }));
          return;
        }
        throw e;
      });
    }
    return { root: root, refresh: refresh };
  }

  function receiptRow(x) {
    var atts = x.attempts || [], last = atts[atts.length - 1];
    return el("tr", { cls: "clickable", "data-delivery": x.id, onclick: function () { location.hash = "#/deliveries/" + seg(x.id); } },
      el("td", {}, el("span", { cls: "mono", text: x.id })),
      el("td", {}, el("span", { cls: "badge plain " + (x.type === "visitor.identified" ? "tier" : ""), text: x.type === "visitor.identified" ? "First Match" : x.type === "visitor.updated" ? "Update" : (x.type || DASH) })),
      el("td", { cls: "num", text: fmtInt(x.sequence) }),
      el("td", {}, statusBadge(x.status)),
      el("td", { cls: "num", text: fmtInt(atts.length) }),
      el("td", {}, last ? codeSpan(last.status_code) : el("span", { cls: "muted", text: DASH }), last && last.error ? el("div", { cls: "secondary", text: last.error }) : null),
      el("td", { cls: "num", text: last ? fmtMs(last.duration_ms) : DASH }),
      el("td", { title: fmtTime(x.created_at), "data-ago": x.created_at, text: fmtAgo(x.created_at) }),
      el("td", { cls: "num" }, el("button", { type: "button", cls: "btn btn-small", text: "Replay", "data-action": "replay",
        onclick: function (ev) { ev.stopPropagation(); replayDelivery(x.id); } })));
  }

  // refreshAgo updates the relative times ("3 s ago") under node.
  function refreshAgo(node) {
    Array.prototype.forEach.call(node.querySelectorAll("[data-ago]"), function (c) {
      c.textContent = fmtAgo(c.getAttribute("data-ago"));
    });
  }

  function replayDelivery(id) {
    return api("POST", "/v1/deliveries/" + seg(id) + "/replay", {}).then(function () {
      toast("Delivery " + id + " replayed.");
      refreshNow();
    }, function (e) { toast("Replay failed: " + e.message, true); });
  }

  function localInput(d) {
    var p = function (n) { return String(n).padStart(2, "0"); };
    return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + "T" + p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds());
  }

  // ---------------------------------------------------------------- receipt detail
  function deliveryView(id) {
    var root = el("div", {}, el("div", { cls: "card empty", text: "Loading receipt…" }));
    var lastSig = "";
    function refresh() {
      return api("GET", "/v1/deliveries/" + seg(id)).then(function (d) {
        // Unchanged: keep the page as it is (the payload's scroll, a selection).
        var sig = JSON.stringify(d);
        if (sig === lastSig) return;
        lastSig = sig;
        var ep = state.endpoints.filter(function (e) { return e.id === d.endpoint_id; })[0];
        var atts = d.attempts || [];
        var kv = el("dl", { cls: "kv" });
        [["Delivery", d.id], ["Event (webhook-id)", d.event_id], ["Type", d.type], ["Sequence", fmtInt(d.sequence)],
         ["Person lane", d.person_key], ["Created", fmtTime(d.created_at)], ["Updated", fmtTime(d.updated_at)],
         ["Next attempt", d.next_attempt_at ? fmtTime(d.next_attempt_at) + " (" + fmtAgo(d.next_attempt_at) + ")" : DASH],
         ["Replayed", d.replayed_at ? fmtTime(d.replayed_at) : DASH]].forEach(function (r) {
          kv.appendChild(el("dt", { text: r[0] }));
          kv.appendChild(el("dd", { cls: r[0] === "Delivery" || r[0] === "Event (webhook-id)" || r[0] === "Person lane" ? "mono" : "", text: r[1] || DASH }));
        });
        var rows = atts.slice().reverse().map(function (a) {
          return el("tr", { "data-attempt": a.n },
            el("td", { cls: "num", text: "#" + a.n }),
            el("td", { title: fmtTime(a.at), text: fmtTime(a.at) }),
            el("td", {}, codeSpan(a.status_code)),
            el("td", { cls: "num", text: fmtMs(a.duration_ms) }),
            el("td", {}, a.error ? el("span", { cls: "wrap", text: a.error }) : el("span", { cls: "muted", text: DASH })),
            el("td", {}, a.response_snippet ? el("pre", { cls: "snippet", text: a.response_snippet }) : el("span", { cls: "muted", text: DASH })));
        });
        clear(root);
        appendAll(root, [
          el("div", { cls: "page-head" },
            el("div", {}, el("div", { cls: "crumbs" }, el("a", { href: "#/endpoints", text: "Endpoints" }), " / ",
              el("a", { href: "#/endpoints/" + seg(d.endpoint_id), text: ep ? epName(ep) : d.endpoint_id }), " / receipt"),
              el("h1", { cls: "id-title", text: d.id }),
              el("div", { cls: "sub" }, statusBadge(d.status), " ", fmtInt(atts.length) + (atts.length === 1 ? " attempt" : " attempts"))),
            el("div", { cls: "actions" }, el("button", { type: "button", cls: "btn btn-primary", text: "Replay this delivery", "data-action": "replay",
              onclick: function () { replayDelivery(d.id); } }))),
          el("div", { cls: "grid grid-2" },
            card("Receipt", null, el("div", { cls: "card-body" }, kv)),
            card("Payload", "the signed body", el("pre", { cls: "json", text: d.payload ? JSON.stringify(d.payload, null, 2) : "(not kept)" }))),
          el("div", { cls: "section" }, card("Attempts", "newest first", el("div", { cls: "table-wrap" }, el("table", {},
            el("thead", {}, el("tr", {}, ["Attempt", "At", "Answer", "Duration", "Error", "Response"].map(function (c, i) {
              return el("th", { cls: i === 0 || i === 3 ? "num" : "", text: c });
            }))),
            el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: 6, cls: "empty", text: "Not attempted yet." })))))))
        ]);
      }, function (e) {
        if (e instanceof ApiError && e.status === 404) {
          clear(root).appendChild(el("div", { cls: "card empty", text: "No receipt " + id + " (expired, or not yours)." }));
          return;
        }
        throw e;
      });
    }
    return { root: root, refresh: refresh };
  }

  // ---------------------------------------------------------------- pipeline
  // asList turns an array or an object keyed by name into [{name, …}].
  function asList(v) {
    if (Array.isArray(v)) return v.map(function (x) { return typeof x === "object" && x ? x : { name: String(x) }; });
    if (v && typeof v === "object") return Object.keys(v).map(function (k) {
      var x = v[k];
      if (x && typeof x === "object") { var o = {}; for (var key in x) o[key] = x[key]; if (o.name === undefined) o.name = k; return o; }
      return { name: k, value: x };
    });
    return [];
  }

  var STAGE_LABELS = {
    ingest_store: "Ingest + store", queue_before_match: "Queue before match", match: "Match",
    decision_payload: "Decision + payload", queue_before_dispatch: "Queue before dispatch", post: "Webhook POST",
    end_to_end: "End to end (pixel → 2xx)"
  };
  function stageLabel(name) { return STAGE_LABELS[name] || String(name).replace(/_/g, " "); }

  // stageRows returns the bars of the stage chart: every stage, and the end
  // to end latency once per tier that has samples, with the tier's budget.
  function stageRows(d) {
    var rows = [], budgets = pick(d, ["budgets_ms"]) || {};
    asList(pick(d, ["stages", "stage_latencies", "latency", "latencies"])).forEach(function (s) {
      var name = String(pick(s, ["stage", "name", "id"]));
      var row = { key: name, label: stageLabel(name), p50: num(s, ["p50_ms", "p50"]), p99: num(s, ["p99_ms", "p99"]),
        count: num(s, ["count"]), budget: num(s, ["budget_ms", "budget"]) };
      if (name !== "end_to_end" || !s.tiers) { rows.push(row); return; }
      var tiers = Object.keys(s.tiers).filter(function (t) { return num(s.tiers[t], ["count"]) > 0; });
      if (!tiers.length) { rows.push(row); return; }
      ["enterprise", "pro", "free"].concat(tiers).filter(function (t, i, all) { return tiers.indexOf(t) >= 0 && all.indexOf(t) === i; }).forEach(function (t) {
        var l = s.tiers[t];
        rows.push({ key: name + ":" + t, label: "End to end · " + t, p50: num(l, ["p50_ms"]), p99: num(l, ["p99_ms"]), count: num(l, ["count"]),
          budget: isNum(budgets[t]) ? budgets[t] : null });
      });
    });
    return rows;
  }

  function stageChart(rows) {
    var maxV = 0;
    rows.forEach(function (r) { maxV = Math.max(maxV, r.p99 || 0, r.budget || 0, r.p50 || 0); });
    var top = niceMax(maxV);
    var list = el("div", { cls: "stages" });
    rows.forEach(function (r) {
      var track = el("div", { cls: "track" });
      var b99 = el("span", { cls: "p99" }); b99.style.width = ((r.p99 || 0) / top * 100).toFixed(2) + "%";
      var b50 = el("span", { cls: "p50" }); b50.style.width = ((r.p50 || 0) / top * 100).toFixed(2) + "%";
      track.appendChild(b99); track.appendChild(b50);
      if (r.budget) { var m = el("span", { cls: "budget", title: "budget " + fmtMs(r.budget) }); m.style.left = Math.min(99.5, r.budget / top * 100).toFixed(2) + "%"; track.appendChild(m); }
      var over = r.budget && r.p99 !== null && r.p99 > r.budget;
      list.appendChild(el("div", { cls: "stage" + (over ? " over" : ""), "data-stage": r.key, title: r.count !== null ? fmtInt(r.count) + " samples" : null },
        el("div", { cls: "name", text: r.label }),
        track,
        el("div", { cls: "figs", text: fmtMs(r.p50) + " · " + fmtMs(r.p99) + (r.budget ? " / " + fmtMs(r.budget) : "") })));
    });
    return list;
  }

  function queueName(q) {
    var name = String(pick(q, ["queue", "name", "stage", "id"])).replace(/_/g, " ");
    var epID = pick(q, ["endpoint_id"]);
    if (epID) {
      var ep = state.endpoints.filter(function (e) { return e.id === epID; })[0];
      name += " · " + (ep ? epName(ep) : epID);
    }
    return name;
  }

  function saturationTable(queues) {
    var rows = queues.map(function (q) {
      var depth = num(q, ["depth", "len", "length", "size"]), cap = num(q, ["capacity", "cap", "max"]);
      var headroom = num(q, ["headroom"]);
      if (headroom === null && depth !== null && cap) headroom = Math.max(0, 1 - depth / cap);
      var warn = q.warning === true || (headroom !== null && headroom < 0.2);
      var used = headroom === null ? null : 1 - headroom;
      var meter = el("div", { cls: "meter " + (warn ? "bad" : used !== null && used > 0.6 ? "warn" : "") }), fill = el("span");
      fill.style.width = ((used || 0) * 100).toFixed(1) + "%";
      meter.appendChild(fill);
      return el("tr", { "data-queue": String(pick(q, ["queue", "name"])) + (q.endpoint_id ? ":" + q.endpoint_id : "") },
        el("td", { cls: "primary", text: queueName(q) }),
        el("td", { cls: "num", text: fmtInt(depth) + (num(q, ["waiting"]) ? " (+" + fmtInt(q.waiting) + " waiting)" : "") }),
        el("td", { cls: "num", text: fmtInt(cap) }),
        el("td", {}, meter),
        el("td", { cls: "num", text: headroom === null ? DASH : fmtPct(headroom) }),
        el("td", {}, warn ? el("span", { cls: "badge bad", text: "under 20 % headroom" }) : el("span", { cls: "badge good", text: "ok" })));
    });
    return el("table", {}, el("thead", {}, el("tr", {}, ["Queue", "Depth", "Capacity", "Used", "Headroom", ""].map(function (c, i) {
      return el("th", { cls: i === 1 || i === 2 || i === 4 ? "num" : "", text: c });
    }))), el("tbody", {}, rows));
  }

  function budgetTable(tenants) {
    var names = {};
    state.tenants.forEach(function (t) { names[t.id] = t.name; });
    return el("table", {}, el("thead", {}, el("tr", {}, ["Tenant", "Tier", "Budget", "First Match judged", "Within budget", "Share"].map(function (c, i) {
      return el("th", { cls: i >= 2 ? "num" : "", text: c });
    }))), el("tbody", {}, tenants.map(function (t) {
      var sh = num(t, ["share"]);
      return el("tr", {},
        el("td", {}, el("div", { cls: "primary", text: names[t.tenant_id] || t.tenant_id }), el("div", { cls: "secondary mono", text: t.tenant_id })),
        el("td", {}, el("span", { cls: "badge tier plain", text: t.tier || DASH })),
        el("td", { cls: "num", text: fmtMs(num(t, ["budget_ms"])) }),
        el("td", { cls: "num", text: fmtInt(num(t, ["first_match_deliveries"])) }),
        el("td", { cls: "num", text: fmtInt(num(t, ["within_budget"])) }),
        rateCell(sh));
    })));
  }

  function pipelineView() {
    var warnBox = el("ul", { cls: "warnings" });
    var stagesBody = el("div", { cls: "card-body" });
    var satBody = el("div", { cls: "table-wrap" });
    var budgetBody = el("div", { cls: "table-wrap" });
    var windowNote = el("span", { cls: "meta" });
    var root = el("div", {},
      el("div", { cls: "page-head" }, el("div", {}, el("h1", { text: "Pipeline" }),
        el("div", { cls: "sub", text: "Time spent in each stage, from the pixel to the webhook's POST, against each tier's budget; and how full the queues are." }))),
      warnBox,
      el("div", { cls: "grid" },
        card("Latency budget, stage by stage", windowNote, stagesBody),
        card("First Match within budget", "per tenant: pixel → 2xx within the tier's budget", budgetBody),
        card("Queue saturation", "depth against capacity; under 20 % headroom is a warning", satBody)));

    function refresh() {
      return optional("pipeline", "GET", "/v1/pipeline").then(function (d) {
        clear(warnBox); clear(stagesBody); clear(satBody); clear(budgetBody);
        if (d === null) {
          stagesBody.appendChild(el("div", { cls: "chart-empty", text: DASH + " This node does not serve GET /v1/pipeline yet." }));
          satBody.appendChild(el("div", { cls: "chart-empty", text: DASH }));
          budgetBody.appendChild(el("div", { cls: "chart-empty", text: DASH }));
          return;
        }
        state.pipeline = d;
        var win = num(d, ["window_s"]);
        windowNote.textContent = "p50 (solid) and p99 (light); the mark is the budget" + (win ? " · last " + fmtSpan(win) : "");
        asList(pick(d, ["warnings", "alerts"])).map(function (w) { return pick(w, ["message", "msg", "text", "warning", "name", "value"]); })
          .filter(Boolean).forEach(function (w) { warnBox.appendChild(el("li", { text: "⚠ " + String(w) })); });

        var rows = stageRows(d);
        if (!rows.length) stagesBody.appendChild(el("div", { cls: "chart-empty", text: "No stage figures yet." }));
        else stagesBody.appendChild(stageChart(rows));

        var tenants = asList(pick(d, ["tenants"]));
        if (tenants.length) budgetBody.appendChild(budgetTable(tenants));
        else budgetBody.appendChild(el("div", { cls: "chart-empty", text: "No First Match deliveries judged yet." }));

        var queues = asList(pick(d, ["saturation", "queues"]));
        if (queues.length) satBody.appendChild(saturationTable(queues));
        else satBody.appendChild(el("div", { cls: "chart-empty", text: "No queues reported." }));
      });
    }
    return { root: root, refresh: refresh };
  }

  // ---------------------------------------------------------------- actors
  function actorsView() {
    var kindSel = el("select", { "aria-label": "Kind" }, el("option", { value: "", text: "all kinds" }));
    var kinds = {};
    var summary = el("div", { cls: "stats" });
    var body = el("tbody");
    var note = el("div", { cls: "note" });
    kindSel.addEventListener("change", function () { refreshNow(); });
    var root = el("div", {},
      el("div", { cls: "page-head" }, el("div", {}, el("h1", { text: "Actors" }),
        el("div", { cls: "sub", text: "The live actors of this node: visitors, persons and endpoints, with their mailboxes." })),
        el("div", { cls: "inline-form" }, el("label", { text: "Kind" }), kindSel)),
      summary,
      card("Live actors", "busiest first", el("div", { cls: "table-wrap" }, el("table", {},
        el("thead", {}, el("tr", {}, ["Kind", "Actor", "Node", "Mailbox", "In flight", "Restarts", "State", "Last activity"].map(function (c, i) {
          return el("th", { cls: i >= 3 && i <= 5 ? "num" : "", text: c });
        }))), body)), note));

    function refresh() {
      var q = kindSel.value ? "?kind=" + seg(kindSel.value) : "";
      return optional("actors", "GET", "/v1/actors" + q).then(function (d) {
        clear(body); clear(summary);
        if (d === null) {
          body.appendChild(el("tr", {}, el("td", { colspan: 8, cls: "empty", text: DASH + " This node does not serve GET /v1/actors yet." })));
          return;
        }
        var list = (d.actors || []).slice();
        var perKind = {};
        list.forEach(function (a) {
          var k = a.kind || "?";
          perKind[k] = perKind[k] || { n: 0, mailbox: 0, restarts: 0 };
          perKind[k].n++; perKind[k].mailbox += a.mailbox_depth || 0; perKind[k].restarts += a.restarts || 0;
          if (!kinds[k]) { kinds[k] = true; kindSel.appendChild(el("option", { value: k, text: k })); }
        });
        appendAll(summary, [stat("Actors", fmtInt(list.length))].concat(Object.keys(perKind).sort().map(function (k) {
          return stat(k, fmtInt(perKind[k].n), "", "mailbox " + fmtInt(perKind[k].mailbox) + " · restarts " + fmtInt(perKind[k].restarts));
        })));
        list.sort(function (a, b) { return ((b.mailbox_depth || 0) + (b.in_flight || 0)) - ((a.mailbox_depth || 0) + (a.in_flight || 0)) || String(a.id).localeCompare(String(b.id)); });
        var shown = list.slice(0, 200);
        if (!shown.length) body.appendChild(el("tr", {}, el("td", { colspan: 8, cls: "empty", text: "No live actors" + (kindSel.value ? " of kind " + kindSel.value : "") + "." })));
        shown.forEach(function (a) {
          var st = String(a.state || "");
          var cls = /run|idle|active|ok|alive|started/i.test(st) ? "good" : /restart|stopp|passiv|suspend/i.test(st) ? "warn" : /fail|dead|crash/i.test(st) ? "bad" : "info";
          body.appendChild(el("tr", { "data-actor": String(a.id) },
            el("td", {}, el("span", { cls: "badge plain info", text: a.kind || DASH })),
            el("td", {}, el("span", { cls: "mono", text: String(a.id) })),
            el("td", { text: a.node || DASH }),
            el("td", { cls: "num", text: fmtInt(a.mailbox_depth) }),
            el("td", { cls: "num", text: fmtInt(a.in_flight) }),
            el("td", { cls: "num", text: fmtInt(a.restarts) }),
            el("td", {}, st ? el("span", { cls: "badge " + cls, text: st }) : DASH),
            el("td", { title: fmtTime(a.last_activity), text: fmtAgo(a.last_activity) })));
        });
        note.textContent = list.length > shown.length ? "Showing the busiest " + shown.length + " of " + fmtInt(list.length) + " actors." : "";
      });
    }
    return { root: root, refresh: refresh };
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
