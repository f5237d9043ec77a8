// Package moto starts moto_server, a local emulator of the AWS APIs
// (DynamoDB, S3, ...), for tests that must talk to a real AWS wire API on
// loopback.
//
// Start runs one server per call on a free 127.0.0.1 port and stops it when
// the test ends. Tests that need it share one server per test binary and
// isolate themselves by resource name (a fresh table or bucket each).
// When moto_server is missing, Start fails with the command that installs
// it, unless SKIP names the moto tier (see package testenv).
package moto
