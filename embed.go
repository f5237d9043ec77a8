// Package minichat embeds the files the binary needs at run time:
// template.yaml, from which the local gateway reads its routes, so that
// `minichat serve` works from any directory and can never disagree with
// what `sam deploy` deploys.
package minichat

import _ "embed"

// Template is the AWS SAM template at the root of the repository.
//
//go:embed template.yaml
var Template []byte
