// Package demo is the logic of `firehook demo`: one node on free ports
// with a temporary data directory, a demo tenant (pro) with a site, a
// synthetic identity graph (identity/synth) imported through the admin
// API, three endpoints on built-in receivers (one healthy, one flaky that
// answers ~30 % of requests with 500, one slow that takes 300-800 ms), and
// a visitor simulator that sends realistic page views through the public
// ingest (POST /v1/collect) as the pixel would: returning visitors,
// sessions of a few pages, referrers and campaigns, some visitors who
// give their email on a form. The dashboard then has live figures from
// the first seconds.
//
// Everything goes through the node's real HTTP surfaces (admin API,
// ingest); the package reaches into the node only for the dashboard's
// one-time login code.
package demo
