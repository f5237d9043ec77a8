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
// Every subtest gets a fresh, empty store. The suite chooses every id itself
// (message ids are UUIDv7, which sort by time), so stores must keep the ids
// they are given. It relies on nothing beyond the port's documentation, so it
// holds for embedded and networked databases alike.
package storetest
