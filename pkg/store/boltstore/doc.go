// Package boltstore provides BoltStore, the chat.Store adapter over an
// embedded bbolt file: the store of `minichat serve` and of tests that need a
// real, durable store without a database server.
//
// Each method is one bbolt transaction, so it is atomic and, for writes,
// durable (fsynced) when it returns; bbolt runs one writer at a time, which is
// what makes seat claims and idempotency records race-free. Records are JSON
// in buckets keyed so that every method is a direct lookup or a bounded
// cursor range over one key prefix, never a scan of a whole bucket. A file
// can be open in one process at a time: a second Open fails after a short
// wait instead of hanging.
package boltstore
