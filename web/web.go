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

// Files returns the web root: index.html and the app's modules at the top,
// the SDK under sdk/.
func Files() fs.FS { return files }
