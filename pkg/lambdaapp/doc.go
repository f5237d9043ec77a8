// Package lambdaapp is the wiring of a Lambda function: it builds the app
// over DynamoDB (store and rate limits), the API Gateway Management API
// (pushes) and CloudWatch metrics in the log, from the environment the
// template gives, and starts the handler of one functions/<dir>.
//
// It knows only what runs on AWS: no local store, gateway or server. What
// only some functions use (S3 for files, Secrets Manager for the token
// secret) comes as an Option from its own package, which only those
// functions' main.go import, so that no other bootstrap links it.
package lambdaapp
