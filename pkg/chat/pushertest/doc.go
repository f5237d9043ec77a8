// Package pushertest is the conformance suite of the chat.Pusher port: what
// every adapter must do with open, closed and unknown connections, in
// order and under concurrency. Adapters run it from their own tests with a
// way to open connections the pusher reaches (testenv.Gateway, for the
// local gateway).
package pushertest
