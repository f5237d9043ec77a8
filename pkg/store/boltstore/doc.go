// Package boltstore provides BoltStore, the chat.Store adapter over an
// embedded bbolt file: the store of `minichat serve` and of tests that need a
// real, durable store without a database server.
//
// Writes go to one writer goroutine, which commits every write waiting
// into one bbolt transaction (group commit): each write is atomic and
// durable (fsynced) when it returns, and one writer is what makes seat
// claims and idempotency records race-free. Reads of the records every
// message needs come from an in-memory copy of their committed bytes
// (hot.go), the others from a read transaction. Records are JSON
// in buckets keyed so that every method is a direct lookup or a bounded
// cursor range over one key prefix, never a scan of a whole bucket. A file
// can be open in one process at a time: a second Open fails after a short
// wait instead of hanging.
package boltstore
