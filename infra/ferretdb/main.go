// Command ugc-ferretdb runs embeddable FerretDB as a MongoDB wire-protocol server for the local
// stack, on PostgreSQL (the stack's) or SQLite. `go install .../cmd/ferretdb` from the module
// proxy panics at start because the module lacks its generated version.txt; embedding the
// library avoids that.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/FerretDB/FerretDB/build/version"
	"github.com/FerretDB/FerretDB/ferretdb"
)

const ferretModule = "github.com/FerretDB/FerretDB"

// moduleVersion reports the FerretDB module version this binary was built with (from go.mod),
// so that buildInfo.ferretdbVersion tells operators the real version instead of "unknown".
func moduleVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, dep := range info.Deps {
		if dep.Path == ferretModule {
			return dep.Version
		}
	}
	return "unknown"
}

func main() {
	listen := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on")
	handler := flag.String("handler", "postgresql", "backend: postgresql or sqlite")
	postgresqlURL := flag.String(
		"postgresql-url", "postgres://postgres@127.0.0.1:5433/ferretdb",
		"PostgreSQL URL (pgx syntax; pool_max_conns sets FerretDB's pool, 50 by default)",
	)
	sqliteURL := flag.String("sqlite-url", "file:data/", "SQLite URI (a directory ending with /)")
	printVersion := flag.Bool("version", false, "print the FerretDB version and exit")
	flag.Parse()

	if *printVersion {
		fmt.Println(moduleVersion())
		return
	}

	// FerretDB logs every error reply at WARN; ERROR keeps the log to what needs attention.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	version.Get().Version = moduleVersion()

	config := &ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: *listen},
		Logger:   logger,
		Handler:  *handler,
	}
	storage := ""
	switch *handler {
	case "postgresql":
		config.PostgreSQLURL = *postgresqlURL
		storage = *postgresqlURL
	case "sqlite":
		config.SQLiteURL = *sqliteURL
		storage = *sqliteURL
	default:
		logger.Error("unknown handler", "handler", *handler)
		os.Exit(2)
	}

	db, err := ferretdb.New(config)
	if err != nil {
		logger.Error("cannot start FerretDB", "error", err)
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Fprintf(os.Stderr, "FerretDB %s listening on %s, %s backend %s\n", moduleVersion(), *listen, *handler, storage)
	if err := db.Run(ctx); err != nil {
		logger.Error("FerretDB stopped", "error", err)
		os.Exit(1)
	}
}
