#!/bin/sh
# Grafana's start in docker-compose.yml: `/bin/sh start.sh /run.sh` (the image's own entrypoint).
# The dashboards are open read-only to whoever reaches the port (anonymous Viewer, set in the compose
# file; the port is on loopback unless RELEVANCE_BIND says otherwise). An admin account, the login form and
# basic auth exist only when GRAFANA_ADMIN_PASSWORD is set:
#   - set: the admin `admin` is created with that password on the first start of an empty Grafana database
#     (later changes of the variable do not change it: use the UI or `grafana cli admin
#     reset-admin-password`);
#   - unset or empty: no admin is created (Grafana's own default would be admin/admin) and nobody can log
#     in, even to an admin created by an earlier start with a password.
# POSIX sh: the image's shell is busybox ash. No pipelines, hence no pipefail (dash has none).
set -eu

if [ "$#" -eq 0 ]; then
  echo "usage: $0 COMMAND [ARG...]   (the command that starts Grafana, e.g. /run.sh)" >&2
  exit 2
fi

if [ -n "${GRAFANA_ADMIN_PASSWORD:-}" ]; then
  GF_SECURITY_ADMIN_PASSWORD=$GRAFANA_ADMIN_PASSWORD
  GF_SECURITY_DISABLE_INITIAL_ADMIN_CREATION=false
  GF_AUTH_DISABLE_LOGIN_FORM=false
  GF_AUTH_BASIC_ENABLED=true
  export GF_SECURITY_ADMIN_PASSWORD
  echo "grafana: admin login enabled (GRAFANA_ADMIN_PASSWORD is set)" >&2
else
  unset GF_SECURITY_ADMIN_PASSWORD
  GF_SECURITY_DISABLE_INITIAL_ADMIN_CREATION=true
  GF_AUTH_DISABLE_LOGIN_FORM=true
  GF_AUTH_BASIC_ENABLED=false
  echo "grafana: read-only dashboards, no admin login (set GRAFANA_ADMIN_PASSWORD for one)" >&2
fi
export GF_SECURITY_DISABLE_INITIAL_ADMIN_CREATION GF_AUTH_DISABLE_LOGIN_FORM GF_AUTH_BASIC_ENABLED
unset GRAFANA_ADMIN_PASSWORD

exec "$@"
