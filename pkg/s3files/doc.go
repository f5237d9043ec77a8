// Package s3files provides the chat Files port over Amazon S3 (and
// anything that speaks its API: the embedded gofakes3 of `minichat serve`,
// moto, LocalStack): presigned POST uploads with size and type conditions,
// ranged reads to inspect uploads, copies, deletes and presigned downloads.
package s3files
