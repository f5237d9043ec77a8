// Package awsconf builds the AWS SDK configuration of a Lambda function
// (Lambda), which reads only the environment the runtime sets and links
// none of the SDK's profile, SSO or STS machinery; awslocal builds that of
// a developer's machine on the same Retryer and HTTPClient.
//
// Both bound retries the same way (Retryer): a few attempts with jittered
// backoff and no client-side retry quota, so that a burst of throttling
// delays a request without starving every later one on a warm instance,
// and a send finishes or fails well inside API Gateway's 29 s limit.
package awsconf
