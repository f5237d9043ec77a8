package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/minichatbar/minichat"
	infraprov "github.com/minichatbar/minichat/infra/provision"
	"github.com/minichatbar/minichat/infra/samtemplate"
	"github.com/minichatbar/minichat/pkg/app"
	"github.com/minichatbar/minichat/pkg/awsconf/awslocal"
)

// provision creates the tables and buckets template.yaml declares at the
// endpoint the AWS SDK settings lead to, and prints what it did.
func provision(args []string, out io.Writer) error {
	fl := flag.NewFlagSet("provision", flag.ContinueOnError)
	fl.SetOutput(out)
	tplPath := fl.String("template", "", "SAM template to read tables and buckets from (default: the embedded one)")
	table := fl.String("table", envOr(app.EnvTable, app.DefaultTable), "name of the template's table")
	bucket := fl.String("bucket", envOr(app.EnvBucket, app.DefaultBucket), "name of the template's bucket")
	pathStyle := fl.Bool("path-style", os.Getenv(app.EnvPathStyle) == "true", "address buckets by path (moto, LocalStack)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("provision: unexpected arguments %q", fl.Args())
	}
	data := minichat.Template
	if *tplPath != "" {
		var err error
		if data, err = os.ReadFile(*tplPath); err != nil {
			return fmt.Errorf("provision: %w", err)
		}
	}
	tpl, err := samtemplate.Parse(data)
	if err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	set := map[string]bool{}
	fl.Visit(func(f *flag.Flag) { set[f.Name] = true })
	names := infraprov.Names{}
	var tableIDs, bucketIDs []string
	for _, t := range tpl.Tables() {
		tableIDs = append(tableIDs, t.LogicalID)
	}
	for _, b := range tpl.Buckets() {
		bucketIDs = append(bucketIDs, b.LogicalID)
	}
	if err := nameTheOne(names, "table", tableIDs, *table, set["table"]); err != nil {
		return err
	}
	if err := nameTheOne(names, "bucket", bucketIDs, *bucket, set["bucket"]); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// An endpoint override means an emulator: no instance metadata, and
	// placeholder credentials when none are set.
	local := os.Getenv("AWS_ENDPOINT_URL") != "" || os.Getenv("AWS_ENDPOINT_URL_DYNAMODB") != "" || os.Getenv("AWS_ENDPOINT_URL_S3") != ""
	load := awslocal.Default
	if local {
		load = awslocal.Local
	}
	cfg, err := load(ctx)
	if err != nil {
		return err
	}
	res, err := infraprov.Provision(ctx, tpl, cfg, names, infraprov.WithPathStyle(*pathStyle))
	for _, r := range res.Resources {
		fmt.Fprintln(out, r)
	}
	return err
}

// nameTheOne gives name to the template's only resource of a kind, as the
// application reads one table (MINICHAT_TABLE) and one bucket
// (MINICHAT_BUCKET). With several, the others keep their default names,
// and a name given explicitly would be ambiguous.
func nameTheOne(names infraprov.Names, kind string, ids []string, name string, explicit bool) error {
	switch {
	case len(ids) == 1:
		names[ids[0]] = name
	case len(ids) > 1 && explicit:
		return fmt.Errorf("provision: the template declares %d %ss (%v); -%s cannot say which", len(ids), kind, ids, kind)
	}
	return nil
}
