// compose-check loads a Compose file with the loader Docker Compose itself
// uses (github.com/compose-spec/compose-go/v2): schema validation against the
// Compose Specification, variable interpolation (the process environment,
// then the project's .env), normalization and the consistency checks
// (depends_on, networks, volumes, ...). It prints the resolved project as JSON
// on stdout and a one-line summary on stderr.
//
// It exits 1 with the loader's message on any error, and on any warning the
// loader logs (an unset variable defaulting to a blank string, the obsolete
// `version` attribute, ...) unless -allow-warnings is given; 2 on bad usage.
//
//	compose-check [-C dir] [-f file]... [-q] [-allow-warnings]
//	compose-check -version
//
// Built by deploy/deps.sh into .deps/bin/compose-check; tests/integration/
// test_compose.py runs it on docker-compose.yml.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/sirupsen/logrus"
)

type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(v string) error { *f = append(*f, v); return nil }

// warnings collects what the loader logs at warning level or above.
type warnings struct{ msgs []string }

func (w *warnings) Levels() []logrus.Level {
	return []logrus.Level{logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel, logrus.WarnLevel}
}

func (w *warnings) Fire(e *logrus.Entry) error {
	w.msgs = append(w.msgs, e.Message)
	return nil
}

func main() {
	os.Exit(run())
}

func run() int {
	var files fileList
	dir := flag.String("C", ".", "project directory: relative paths, the default compose file and .env are looked up here")
	flag.Var(&files, "f", "compose file (repeatable; default: compose.yaml, docker-compose.yml, ... in the project directory)")
	quiet := flag.Bool("q", false, "do not print the resolved project")
	allowWarnings := flag.Bool("allow-warnings", false, "do not fail on the loader's warnings")
	version := flag.Bool("version", false, "print the compose-go version this was built with")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: compose-check [-C dir] [-f file]... [-q] [-allow-warnings] | -version\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 0 {
		flag.Usage()
		return 2
	}

	if *version {
		fmt.Printf("compose-check (compose-go %s)\n", composeGoVersion())
		return 0
	}

	// The hook keeps the loader's warnings; they are printed below, once.
	hook := &warnings{}
	logrus.SetOutput(io.Discard)
	logrus.AddHook(hook)

	// The same sources and order as `docker compose`: the process environment
	// wins over the project's .env; every profile is enabled, so every service
	// is checked.
	opts, err := cli.NewProjectOptions(files,
		cli.WithWorkingDirectory(*dir),
		cli.WithOsEnv,
		cli.WithEnvFiles(),
		cli.WithDotEnv,
		cli.WithDefaultConfigPath,
		cli.WithProfiles([]string{"*"}),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		fmt.Fprintf(os.Stderr, "compose-check: %v\n", err)
		return 1
	}
	if len(opts.ConfigPaths) == 0 {
		fmt.Fprintf(os.Stderr, "compose-check: no compose file found in %s\n", *dir)
		return 1
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		fmt.Fprintf(os.Stderr, "compose-check: %v\n", err)
		return 1
	}
	for _, m := range hook.msgs {
		if *allowWarnings {
			fmt.Fprintf(os.Stderr, "compose-check: warning: %s\n", m)
		} else {
			fmt.Fprintf(os.Stderr, "compose-check: warning treated as an error: %s\n", m)
		}
	}
	if len(hook.msgs) > 0 && !*allowWarnings {
		return 1
	}
	if !*quiet {
		out, err := project.MarshalJSON()
		if err != nil {
			fmt.Fprintf(os.Stderr, "compose-check: %v\n", err)
			return 1
		}
		os.Stdout.Write(append(out, '\n'))
	}
	names := project.ServiceNames()
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "compose-check: %s: OK, project %q, %d services (%s)\n",
		strings.Join(project.ComposeFiles, ", "), project.Name, len(names), strings.Join(names, ", "))
	return 0
}

func composeGoVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/compose-spec/compose-go/v2" {
				return dep.Version
			}
		}
	}
	return "unknown"
}
