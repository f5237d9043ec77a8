// Package web embeds the reference web client (app/) and the JavaScript
// SDK (sdk/): plain ES modules with no build step, served by
// `minichat serve` and deployable as static files.
package web

import (
	"embed"
	"io/fs"
)

//go:embed app sdk
var files embed.FS

// Files returns the embedded tree: the web client under app/ (served at
// /) and the SDK under sdk/ (served at /sdk/).
func Files() fs.FS { return files }
