// Package memlimit provides MemoryLimiter, the chat.Limiter adapter that
// keeps rate-limit buckets and counters in the process's memory: the limiter
// of `minichat serve`, where one process sees every request and a token
// needs no durability (a restart that forgets who sent what a second ago
// loses nothing).
package memlimit
