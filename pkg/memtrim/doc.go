// Package memtrim gives memory back to the operating system after a
// drop in load, for the long-running `minichat serve`.
//
// When thousands of connections close, what they held becomes garbage,
// but an idle server allocates nothing, so no collection runs (the
// runtime forces one only every two minutes) and the scavenger, which
// returns only memory a collection has found free, has nothing to give
// back: the process keeps its peak size. A watcher that sees the number
// of connections fall to half its peak collects and returns the free
// memory, twice a second apart, so a self-hosted server on a small
// machine shrinks back after a spike instead of holding it for the next.
package memtrim
