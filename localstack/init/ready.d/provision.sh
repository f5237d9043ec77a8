#!/bin/sh
# LocalStack runs this once its services are ready (init hook "ready.d"): it
# creates minichat's DynamoDB table and S3 bucket as template.yaml declares
# ChatTable and FilesBucket. Run it again at will: what exists is left alone.
#
# Inside the LocalStack container there is no Go, so this uses the AWS CLI.
# localstack/localstack_test.go runs this script against moto_server and checks
# the result against template.yaml, so a change to the table there fails that
# test until this script follows. From a machine with Go,
# `go run ./cmd/minichat provision` does the same from the template itself.
#
# Settings (environment):
#   AWS_ENDPOINT_URL   where LocalStack answers (default http://localhost:4566)
#   MINICHAT_TABLE     table name (default minichat)
#   MINICHAT_BUCKET    bucket name (default minichat-files)
#   AWS_REGION         region (default us-east-1)
set -eu

endpoint="${AWS_ENDPOINT_URL:-http://localhost:4566}"
table="${MINICHAT_TABLE:-minichat}"
bucket="${MINICHAT_BUCKET:-minichat-files}"
region="${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}"
# LocalStack accepts any credentials; the CLI refuses to sign without some.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_PAGER=""

if ! command -v aws >/dev/null 2>&1; then
	echo "provision.sh: the AWS CLI (aws) is not installed: pip install awscli" >&2
	exit 1
fi

awsl() {
	aws --endpoint-url "$endpoint" --region "$region" --output text "$@"
}

# ChatTable: pk/sk strings, GSI gsi1 (gsi1pk/gsi1sk, all attributes), on
# demand, TTL on "ttl".
if awsl dynamodb describe-table --table-name "$table" >/dev/null 2>&1; then
	echo "exists  table $table"
else
	awsl dynamodb create-table \
		--table-name "$table" \
		--billing-mode PAY_PER_REQUEST \
		--attribute-definitions \
			AttributeName=pk,AttributeType=S \
			AttributeName=sk,AttributeType=S \
			AttributeName=gsi1pk,AttributeType=S \
			AttributeName=gsi1sk,AttributeType=S \
		--key-schema AttributeName=pk,KeyType=HASH AttributeName=sk,KeyType=RANGE \
		--global-secondary-indexes '[{"IndexName":"gsi1","KeySchema":[{"AttributeName":"gsi1pk","KeyType":"HASH"},{"AttributeName":"gsi1sk","KeyType":"RANGE"}],"Projection":{"ProjectionType":"ALL"}}]' \
		>/dev/null
	awsl dynamodb wait table-exists --table-name "$table"
	echo "created table $table"
fi
# Turning TTL on twice is an error on DynamoDB, so ask first; this also
# finishes the job of a run that stopped between the two steps.
ttl="$(awsl dynamodb describe-time-to-live --table-name "$table" --query 'TimeToLiveDescription.TimeToLiveStatus')"
if [ "$ttl" != "ENABLED" ] && [ "$ttl" != "ENABLING" ]; then
	awsl dynamodb update-time-to-live --table-name "$table" \
		--time-to-live-specification Enabled=true,AttributeName=ttl >/dev/null
	echo "enabled TTL on $table (attribute ttl)"
fi

# FilesBucket: private; presigned URLs only.
if awsl s3api head-bucket --bucket "$bucket" >/dev/null 2>&1; then
	echo "exists  bucket $bucket"
else
	if [ "$region" = "us-east-1" ]; then
		awsl s3api create-bucket --bucket "$bucket" >/dev/null
	else
		awsl s3api create-bucket --bucket "$bucket" \
			--create-bucket-configuration "LocationConstraint=$region" >/dev/null
	fi
	echo "created bucket $bucket"
fi
