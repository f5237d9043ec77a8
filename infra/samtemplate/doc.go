// Package samtemplate reads an AWS SAM template (template.yaml) and answers the
// questions local tooling asks of it: which WebSocket routes exist and which
// function directory serves each, which HTTP API routes exist, and which
// DynamoDB tables and S3 buckets must be provisioned.
//
// The template is parsed with goformation, keeping intrinsic functions (!Ref,
// !GetAtt, !Sub, !Join) encoded instead of evaluated, so that references
// between resources (route -> integration -> function) can be followed
// without deploying anything. Parameters and conditions are taken as a
// deployment with default parameter values would: a !Ref to a parameter is
// its default, !If picks the branch its condition selects, and !Split of a
// literal is a list. Properties that SAM takes and goformation's types do
// not model (HttpApi's AccessLogSettings) are dropped before parsing.
//
// Resources marked cloud-only in their Metadata (see CloudOnlyKey), such as
// the web client's hosting, are left out of Functions and Buckets: local
// tooling runs the chat application, not what only the deployed stack needs.
package samtemplate
