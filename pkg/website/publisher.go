package website

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3API is the part of the S3 client a Publisher uses.
type S3API interface {
	s3.ListObjectsV2APIClient
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	DeleteObjects(context.Context, *s3.DeleteObjectsInput, ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error)
}

var _ S3API = (*s3.Client)(nil)

// Publisher writes sites to S3 buckets.
type Publisher struct {
	s3 S3API
}

// NewPublisher returns a Publisher over api (an *s3.Client).
func NewPublisher(api S3API) *Publisher { return &Publisher{s3: api} }

// Publish makes bucket hold exactly files: every file is uploaded, in
// order, then every other object is deleted. Stale objects go last, so that
// a site being replaced never lacks a file the old pages still load.
func (p *Publisher) Publish(ctx context.Context, bucket string, files []File) error {
	keep := make(map[string]bool, len(files))
	for _, f := range files {
		_, err := p.s3.PutObject(ctx, &s3.PutObjectInput{
			Bucket:       aws.String(bucket),
			Key:          aws.String(f.Key),
			Body:         bytes.NewReader(f.Body),
			ContentType:  aws.String(f.ContentType),
			CacheControl: aws.String(f.CacheControl),
		})
		if err != nil {
			return fmt.Errorf("website: put s3://%s/%s: %w", bucket, f.Key, err)
		}
		keep[f.Key] = true
	}
	return p.deleteAll(ctx, bucket, func(key string) bool { return !keep[key] })
}

// Empty deletes every object of bucket; a bucket that does not exist is
// empty already (a Delete that follows a failed Create, say).
func (p *Publisher) Empty(ctx context.Context, bucket string) error {
	err := p.deleteAll(ctx, bucket, func(string) bool { return true })
	var nsb *types.NoSuchBucket
	var api smithy.APIError
	if errors.As(err, &nsb) || (errors.As(err, &api) && api.ErrorCode() == "NoSuchBucket") {
		return nil
	}
	return err
}

// maxDeleteKeys is the most keys one DeleteObjects request takes.
const maxDeleteKeys = 1000

// deleteAll deletes the objects of bucket whose key doomed approves, a page
// of the listing at a time. The site bucket is unversioned, so a deleted
// object is gone (no versions or delete markers keep the bucket non-empty).
func (p *Publisher) deleteAll(ctx context.Context, bucket string, doomed func(key string) bool) error {
	pages := s3.NewListObjectsV2Paginator(p.s3, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("website: list s3://%s: %w", bucket, err)
		}
		var ids []types.ObjectIdentifier
		for _, o := range page.Contents {
			if doomed(aws.ToString(o.Key)) {
				ids = append(ids, types.ObjectIdentifier{Key: o.Key})
			}
		}
		for len(ids) > 0 {
			n := min(len(ids), maxDeleteKeys)
			if err := p.deleteObjects(ctx, bucket, ids[:n]); err != nil {
				return err
			}
			ids = ids[n:]
		}
	}
	return nil
}

func (p *Publisher) deleteObjects(ctx context.Context, bucket string, ids []types.ObjectIdentifier) error {
	out, err := p.s3.DeleteObjects(ctx, &s3.DeleteObjectsInput{
		Bucket: aws.String(bucket),
		Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
	})
	if err != nil {
		return fmt.Errorf("website: delete from s3://%s: %w", bucket, err)
	}
	// DeleteObjects answers 200 and lists the keys it could not delete.
	var errs []error
	for _, e := range out.Errors {
		errs = append(errs, fmt.Errorf("%s: %s %s", aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message)))
	}
	if len(errs) > 0 {
		return fmt.Errorf("website: delete from s3://%s: %w", bucket, errors.Join(errs...))
	}
	return nil
}
