// Package logging provides structured JSON logging (log/slog) whose records
// carry the attributes of the request they belong to (connection id,
// request id, route) without passing a logger through every call, and
// redacts secrets (tokens, passwords, signed URLs) wherever they appear.
package logging
