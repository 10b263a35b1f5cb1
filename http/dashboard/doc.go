// Package dashboard is the operator's web dashboard of a node: a
// single-page app (HTML, one script, one style sheet, embedded in the
// binary; no build step, no CDN) served on the admin listener at
// /dashboard, and the one-time login links that the demo prints.
//
// The page itself is public; everything it shows comes from the admin
// API, which it calls with the token the user logged in with (kept in
// the tab's sessionStorage, sent as Authorization: Bearer). It reads the
// tenants, endpoints, their health, receipts and attempts, the pipeline's
// stage latencies and saturation and the live actors, polls them every
// two seconds, and shows "—" for a figure whose route the node does not
// serve. Every piece of data is rendered as text (textContent), never as
// markup.
//
// Login links: NewLoginCode stores a token under a random single-use code
// that expires (CodeTTL). The link http://ADMIN/dashboard#login=CODE
// carries the code in the fragment, which browsers never send to a
// server nor in a Referer; the page posts it to POST /dashboard/login,
// which answers the token once and forgets the code.
//
// Routes (mounted by http/admin outside its token check):
//
//	GET  /dashboard          the page
//	GET  /dashboard/{asset}  app.js, app.css
//	POST /dashboard/login    {"code"} → {"token"}, once per code
package dashboard
