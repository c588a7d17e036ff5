package analytics

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Migration is one versioned schema step. Statements name the database as
// {db}; every statement is idempotent (IF NOT EXISTS) so a half-applied
// migration can simply run again.
type Migration struct {
	Version    uint32
	Name       string
	Statements []string
}

// Migrations returns the schema steps in order (for docs and the cluster DDL).
func Migrations() []Migration { return append([]Migration(nil), migrations...) }

// Migrate creates the database and applies every migration not yet recorded
// in {db}.schema_migrations. Running it again, or from several nodes, is safe.
func Migrate(ctx context.Context, conn driver.Conn, db string) ([]Migration, error) {
	if !ValidIdent(db) {
		return nil, fmt.Errorf("migrate: database name %q: letters, digits and _ only", db)
	}
	if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+db); err != nil {
		return nil, fmt.Errorf("migrate: create database %s: %w", db, err)
	}
	if err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+db+`.schema_migrations (
    version UInt32, name String, applied_at DateTime
) ENGINE = ReplacingMergeTree(applied_at) ORDER BY version`); err != nil {
		return nil, fmt.Errorf("migrate: create %s.schema_migrations: %w", db, err)
	}
	applied := map[uint32]bool{}
	rows, err := conn.Query(ctx, "SELECT DISTINCT version FROM "+db+".schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("migrate: read %s.schema_migrations: %w", db, err)
	}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, fmt.Errorf("migrate: scan version: %w", err)
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migrate: read versions: %w", err)
	}
	var done []Migration
	for _, m := range migrations {
		if applied[m.Version] {
			continue
		}
		for _, stmt := range m.Statements {
			if err := conn.Exec(ctx, strings.ReplaceAll(stmt, "{db}", db)); err != nil {
				return done, fmt.Errorf("migrate: %d %s: %w", m.Version, m.Name, err)
			}
		}
		b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".schema_migrations (version, name, applied_at)")
		if err != nil {
			return done, fmt.Errorf("migrate: record %d: %w", m.Version, err)
		}
		if err := b.Append(m.Version, m.Name, time.Now()); err != nil {
			return done, fmt.Errorf("migrate: record %d: %w", m.Version, err)
		}
		if err := b.Send(); err != nil {
			return done, fmt.Errorf("migrate: record %d: %w", m.Version, err)
		}
		done = append(done, m)
	}
	return done, nil
}

// ValidIdent says whether s may be used as a ClickHouse database or table
// name without quoting: letters, digits (not first) and _, at most 64.
func ValidIdent(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i, r := range s {
		ok := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9')
		if !ok {
			return false
		}
	}
	return true
}
