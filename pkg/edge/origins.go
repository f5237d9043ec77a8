package edge

import "strings"

// Origins is the allow-list of browser origins for WebSocket handshakes
// and CORS. Requests without an Origin header (mobile and CLI clients) are
// always allowed; "*" allows every origin and is meant for development only.
type Origins []string

// ParseOrigins reads a comma-separated list.
func ParseOrigins(list string) Origins {
	var o Origins
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimRight(strings.TrimSpace(s), "/"); s != "" {
			o = append(o, s)
		}
	}
	return o
}

// Allowed reports whether a request with this Origin header may proceed.
func (o Origins) Allowed(origin string) bool {
	if origin == "" {
		return true
	}
	for _, a := range o {
		if a == "*" || strings.EqualFold(a, origin) {
			return true
		}
	}
	return false
}
