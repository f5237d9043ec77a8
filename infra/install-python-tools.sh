#!/bin/sh
# Installs the Python tools the test tiers run, pinned, with pip: moto_server
# (DynamoDB, S3 and Secrets Manager on the wire), cfn-lint (the template) and
# the AWS CLI (the LocalStack walkthrough). A tool already on PATH is left
# alone. Where pip cannot reach its index the tool stays missing and its tier
# fails with this hint, unless SKIP names the tier (README, "Tests").
# `make deps` runs it.
set -u

install() { # <command> <pip requirement> <tier>
	if command -v "$1" >/dev/null 2>&1; then
		return
	fi
	echo "deps: $1 is missing; pip install $2"
	if ! python3 -m pip install --user --quiet "$2"; then
		echo "deps: pip could not install $2: the $3 tier will fail until $1 is on PATH (or SKIP=$3)" >&2
	fi
}

install moto_server 'moto[server]==5.2.1' moto
install cfn-lint 'cfn-lint==1.51.0' cfnlint
install aws 'awscli==1.45.11' awscli
