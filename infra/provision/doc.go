// Package provision creates the DynamoDB tables and S3 buckets that
// template.yaml declares, on any endpoint that speaks those APIs (AWS,
// LocalStack, moto), so that the local gateway can run in front of them
// without a CloudFormation deployment.
//
// It reads the template, never a copy of it: key schema, attribute
// definitions, secondary indexes, billing mode, stream and TTL of each
// table; CORS rules of each bucket. Physical names come from Names, because
// in the template CloudFormation computes them. Provision is idempotent: a
// table or bucket that already exists is left as it is and reported, except
// that a table whose key schema differs from the template's is an error and
// a table without its TTL gets it, so that an interrupted run converges.
//
// The rest of a resource's configuration (encryption, point-in-time
// recovery, public access block, lifecycle rules, bucket policy) is the
// business of a real deployment (`sam deploy`) and is not applied here.
package provision
