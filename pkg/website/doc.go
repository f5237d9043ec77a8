// Package website publishes the reference web client to the S3 bucket that
// CloudFront serves when template.yaml hosts it (HostWebClient=true).
//
// The files are the ones the binary already embeds (web.Files()), laid out
// as `minichat serve` serves them: app/ at the site's root and sdk/ under
// /sdk/. Next to them goes config.json, which tells the client the stack's
// WebSocket and HTTP API URLs, so that the site works without anyone typing
// them into the settings panel.
//
// The publishing runs at deploy time, as a CloudFormation custom resource
// (functions/webclient, Custom::WebClientContent): Create and Update make
// the bucket hold exactly the site (changed files replaced, stale ones
// removed); Delete empties the bucket, since CloudFormation cannot delete a
// bucket that still holds objects and `sam delete` would fail.
package website
