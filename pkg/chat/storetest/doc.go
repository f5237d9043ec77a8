// Package storetest is the conformance suite of the chat.Store port: the one
// definition of how every store adapter behaves, in the manner of go-cloud's
// drivertest. An adapter passes it from its own test:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) chat.Store {
//			s := openStore(t)
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// Every subtest gets a fresh, empty store. The suite chooses user and
// connection ids itself; stores choose message ids and seqs. It relies on
// nothing beyond the port's documentation, so it holds for embedded and
// networked databases alike; where it races calls, it checks only what
// the port promises under concurrency (exactly eight seats, seqs without
// gaps or repeats, one message per client id).
package storetest
