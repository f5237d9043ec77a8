// Package awslocal builds the AWS SDK configuration of a developer's
// machine and of tools (minichat serve against DynamoDB, minichat
// provision): the SDK's whole default chain (profiles, SSO, STS), with
// awsconf's bounded retries. It lives apart from awsconf so that no Lambda
// bootstrap links that chain: a function reads only its environment.
package awslocal
