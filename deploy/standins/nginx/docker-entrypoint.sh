#!/bin/sh
# Stand-in for the official nginx image's entrypoint, for `make compose-test` only: its
# 20-envsubst-on-templates.sh step, which docker-compose.yml relies on. Each
# $NGINX_ENVSUBST_TEMPLATE_DIR/**/*$NGINX_ENVSUBST_TEMPLATE_SUFFIX is rendered into
# $NGINX_ENVSUBST_OUTPUT_DIR with envsubst, replacing only the variables whose names match
# $NGINX_ENVSUBST_FILTER (all of them when it is empty), as the official script does.
set -eu

render_templates() {
    template_dir="${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}"
    suffix="${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}"
    output_dir="${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}"
    filter="${NGINX_ENVSUBST_FILTER:-}"
    [ -d "$template_dir" ] || return 0
    if [ ! -w "$output_dir" ]; then
        echo "$0: ERROR: $template_dir exists, but $output_dir is not writable" >&2
        return 0
    fi
    # shellcheck disable=SC2016
    defined_envs=$(printf '${%s} ' $(awk "END { for (name in ENVIRON) { print ( name ~ /${filter}/ ) ? name : \"\" } }" < /dev/null))
    find "$template_dir" -follow -type f -name "*$suffix" -print | while read -r template; do
        relative_path="${template#"$template_dir/"}"
        output_path="$output_dir/${relative_path%"$suffix"}"
        mkdir -p "$(dirname "$output_path")"
        echo "$0: Running envsubst on $template to $output_path"
        envsubst "$defined_envs" < "$template" > "$output_path"
    done
}

if [ "$1" = nginx ] || [ "$1" = nginx-debug ]; then
    render_templates
fi

exec "$@"
