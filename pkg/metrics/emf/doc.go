// Package emf provides EMFMetrics, the chat.Metrics adapter of Lambda: it
// adds up what one invocation counts and times, and Flush writes it as
// CloudWatch Embedded Metric Format lines to the function's log, which
// CloudWatch turns into metrics with no API call (and no IAM permission).
//
// The format is the documented JSON shape
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
// small enough to write by hand, so no library is linked into every function.
package emf
