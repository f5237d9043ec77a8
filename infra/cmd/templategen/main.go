package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	"github.com/minichatbar/minichat/infra/permissions"
	"github.com/minichatbar/minichat/infra/templategen"
)

func main() {
	tplPath := flag.String("template", "../template.yaml", "the SAM template to rewrite")
	fnDir := flag.String("functions", "../functions", "the directory of the functions and their permission lists")
	flag.Parse()
	if err := run(*tplPath, *fnDir); err != nil {
		fmt.Fprintln(os.Stderr, "templategen:", err)
		os.Exit(1)
	}
}

func run(tplPath, fnDir string) error {
	tpl, err := os.ReadFile(tplPath)
	if err != nil {
		return err
	}
	out, err := templategen.Generate(tpl, func(dir string) (permissions.List, error) { return permissions.Load(fnDir, dir) })
	if err != nil {
		return err
	}
	if bytes.Equal(out, tpl) {
		return nil
	}
	fi, err := os.Stat(tplPath)
	if err != nil {
		return err
	}
	return os.WriteFile(tplPath, out, fi.Mode().Perm())
}
