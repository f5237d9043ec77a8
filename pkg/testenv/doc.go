// Package testenv is what the tests of several packages share: how a test
// that needs an outside tool finds it (or fails saying how to install it),
// a recording Pusher, a goroutine-safe buffer, the aws-lambda-go event
// fixtures, and Files over an embedded S3. Its subpackage moto runs
// moto_server.
//
// A test tier that needs a tool the machine lacks fails, with the install
// hint, whether or not CI is set: `make test` never passes by skipping. A
// developer who means to skip a tier names it: SKIP=browser,moto make test.
package testenv
