// Package web holds the demo single-page application, embedded so that the
// demo binary serves it without a checkout next to it.
package web

import "embed"

// FS holds index.html, app.js and style.css at its root.
//
//go:embed index.html app.js style.css
var FS embed.FS
