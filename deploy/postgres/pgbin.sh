# Sourced by the stack scripts: where PostgreSQL's server binaries are.
# Debian installs them under /usr/lib/postgresql/<major>/bin, which is not on
# PATH (only client wrappers are in /usr/bin). POSTGRES_BINDIR overrides.
# shellcheck shell=bash

# Prints the directory holding initdb, pg_ctl, postgres and psql, or fails.
pg_bindir() {
    local d
    if [[ -n "${POSTGRES_BINDIR:-}" ]]; then
        [[ -x "$POSTGRES_BINDIR/initdb" ]] || return 1
        printf '%s\n' "$POSTGRES_BINDIR"
        return 0
    fi
    # The newest major version first.
    while IFS= read -r d; do
        [[ -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/psql" ]] && { printf '%s\n' "$d"; return 0; }
    done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -t/ -k4,4 -n -r)
    if command -v pg_config >/dev/null 2>&1 && d="$(pg_config --bindir 2>/dev/null)" &&
        [[ -x "$d/initdb" ]]; then
        printf '%s\n' "$d"
        return 0
    fi
    return 1
}
