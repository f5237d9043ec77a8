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
// its default, and !If picks the branch its condition selects.
package samtemplate
