// Package awsproxy is a loopback proxy for tests, in front of an AWS API
// endpoint (moto_server's DynamoDB, S3 and Secrets Manager, or a
// Management API of WebSocket connections). It names the IAM action of
// every request that passes, so that a test can hold what code calls to
// the permissions it is granted, and it injects faults (throttling, 5xx,
// connection resets, latency) at chosen rates, so that a test can hold
// what code does when AWS misbehaves.
package awsproxy
