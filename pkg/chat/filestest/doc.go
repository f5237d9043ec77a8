// Package filestest is the conformance suite of the chat Files port: every
// adapter (S3Files over the embedded S3, over moto, over AWS) must pass it.
// It also has the client side of a presigned upload, which end-to-end tests
// share.
package filestest
