// Package localstack holds what a LocalStack user needs to run minichat's
// local gateway in front of LocalStack's DynamoDB and S3 (hybrid mode): a
// compose file, the init hook that creates the table and bucket of
// template.yaml, and README.md. It has no Go API; its tests run the init
// hook's AWS CLI commands against moto_server, which speaks the same APIs,
// because no Docker engine runs where the tests do.
package localstack
