package website

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"sort"
	"strings"
)

// ConfigKey is where the site's configuration lives, next to index.html:
// the web client fetches ./config.json at start.
const ConfigKey = "config.json"

// IndexKey is the site's root document (the distribution's default root
// object).
const IndexKey = "index.html"

// CacheControl is sent with every file. The file names carry no content
// hash, so a browser or CloudFront may keep a copy but must revalidate it
// (a cheap 304 on the ETag): after a deploy every client gets the new
// index.html, app.js and config.json together, with no invalidation.
const CacheControl = "public, no-cache"

// Config is config.json: the endpoints of the stack that serves the site.
type Config struct {
	// WebSocketURL is the stack's WebSocketURL output (wss://…/<stage>).
	WebSocketURL string `json:"webSocketUrl"`
	// HTTPAPIURL is the stack's HttpApiURL output (https://…, without /api).
	HTTPAPIURL string `json:"httpApiUrl"`
}

// Validate reports whether both URLs are absolute, of the right scheme.
func (c Config) Validate() error {
	for _, u := range []struct{ name, value, scheme string }{
		{"WebSocket URL", c.WebSocketURL, "wss"},
		{"HTTP API URL", c.HTTPAPIURL, "https"},
	} {
		p, err := url.Parse(u.value)
		if err != nil || p.Scheme != u.scheme || p.Host == "" {
			return fmt.Errorf("website: %s %q is not a %s:// URL", u.name, u.value, u.scheme)
		}
	}
	return nil
}

// File is one object of the site.
type File struct {
	Key          string
	Body         []byte
	ContentType  string
	CacheControl string
}

// site maps a directory of web.Files() to the key prefix it is served
// under, as `minichat serve` does (pkg/server): app/ at the root, sdk/
// at /sdk/.
var site = []struct{ dir, prefix string }{
	{"app", ""},
	{"sdk", "sdk/"},
}

// Files lays out the site from web (a tree like web.Files()) and adds
// config.json with cfg. index.html comes last, so that an upload in this
// order never serves a new page before the files it loads.
func Files(web fs.FS, cfg Config) ([]File, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var files []File
	for _, s := range site {
		err := fs.WalkDir(web, s.dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			body, err := fs.ReadFile(web, p)
			if err != nil {
				return err
			}
			key := s.prefix + strings.TrimPrefix(p, s.dir+"/")
			files = append(files, File{Key: key, Body: body, ContentType: ContentType(key), CacheControl: CacheControl})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("website: read %s/: %w", s.dir, err)
		}
	}
	conf, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("website: %w", err)
	}
	// The generated config.json wins over one the tree might carry.
	files = dropKey(files, ConfigKey)
	files = append(files, File{Key: ConfigKey, Body: conf, ContentType: ContentType(ConfigKey), CacheControl: CacheControl})
	sort.SliceStable(files, func(i, j int) bool {
		if (files[i].Key == IndexKey) != (files[j].Key == IndexKey) {
			return files[j].Key == IndexKey
		}
		return files[i].Key < files[j].Key
	})
	return files, nil
}

func dropKey(files []File, key string) []File {
	out := files[:0]
	for _, f := range files {
		if f.Key != key {
			out = append(out, f)
		}
	}
	return out
}

// contentTypes are the types of the site's files by extension. A table of
// its own rather than mime.TypeByExtension, which also reads the host's
// mime.types: the same binary must label a file the same way on every
// machine (on Debian, .ts would be video/mp2t).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".mjs":  "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".json": "application/json",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".webp": "image/webp",
	".txt":  "text/plain; charset=utf-8",
	".md":   "text/markdown; charset=utf-8",
	".ts":   "text/plain; charset=utf-8", // TypeScript declarations, to read
	".map":  "application/json",
}

// ContentType returns the Content-Type a site file is served with;
// application/octet-stream for an extension the site does not use.
func ContentType(key string) string {
	if t, ok := contentTypes[strings.ToLower(path.Ext(key))]; ok {
		return t
	}
	return "application/octet-stream"
}
