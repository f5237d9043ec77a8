// Package limitertest is the conformance suite of the chat.Limiter port,
// run against every adapter (in memory, and on DynamoDB through minidyn
// and moto): token buckets that refill at their rate up to their burst and
// say when to retry, fixed-window counters aligned on the Unix epoch, and
// both exact under concurrent callers.
package limitertest
