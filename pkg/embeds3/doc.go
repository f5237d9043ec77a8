// Package embeds3 provides an in-process S3 server (gofakes3), so that
// `minichat serve` and the tests need no AWS account: presigned uploads
// and downloads work against it from browsers and curl. It checks neither
// signatures nor POST policies; the chat service verifies every upload
// itself before it announces it.
package embeds3

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3bolt"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	bolt "go.etcd.io/bbolt"
)

// MaxRequestBytes bounds a request body: the largest file a client may
// declare (10 MiB) plus room for the form fields.
const MaxRequestBytes = 10<<20 + 64<<10

// Server is an embedded S3 endpoint.
type Server struct {
	handler http.Handler
	db      *bolt.DB
}

// Open returns a server keeping objects in the bbolt file at path, or in
// memory when path is empty, with the given buckets created.
func Open(path string, buckets ...string) (*Server, error) {
	var (
		backend gofakes3.Backend = s3mem.New()
		db      *bolt.DB
	)
	if path != "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("embeds3: %w", err)
		}
		var err error
		if db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second}); err != nil {
			return nil, fmt.Errorf("embeds3: open %s: %w", path, err)
		}
		backend = &lockedBackend{inner: s3bolt.New(db)}
	}
	s := &Server{handler: newHandler(backend), db: db}
	for _, b := range buckets {
		exists, err := backend.BucketExists(b)
		if err == nil && !exists {
			err = backend.CreateBucket(b)
		}
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("embeds3: bucket %s: %w", b, err)
		}
	}
	return s, nil
}

func newHandler(b gofakes3.Backend) http.Handler {
	h := gofakes3.New(b, gofakes3.WithAutoBucket(false), gofakes3.WithLogger(gofakes3.DiscardLog())).Server()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, MaxRequestBytes)
		h.ServeHTTP(w, r)
	})
}

// Guard returns the server behind an origin check: a browser request from
// an origin that allowed refuses is answered 403, so that no other web
// page can read or change the files (the S3 API answers every allowed
// origin with Access-Control-Allow-Origin: *).
func (s *Server) Guard(allowed func(origin string) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o := r.Header.Get("Origin"); o != "" && !allowed(o) {
			http.Error(w, "origin not allowed", http.StatusForbidden)
			return
		}
		s.ServeHTTP(w, r)
	})
}

// ServeHTTP serves the S3 API; mount it with the prefix stripped.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Close releases the store.
func (s *Server) Close() error {
	if s.db == nil {
		return nil
	}
	return s.db.Close()
}
