#!/usr/bin/env bash
# Deploy the model function to Cloud Functions gen2 (private by default), or manage it.
#
#   ./deploy.sh [deploy|delete|describe|url|call|capture|deploy-batch] [--dry-run] [--allow-unauthenticated]
#
# Settings come from the environment, or from .env.deploy (KEY=value lines) beside this script;
# the environment wins. Required: GCP_PROJECT_ID, GCP_REGION, and MODEL_URI (or MODELS, with
# MODEL_NAMES, DEFAULT_MODEL and MODEL_MEMORY_MB: many models by name) for deploy.
# Optional: FUNCTION_NAME (model-predict), SERVICE_ACCOUNT, MEMORY (1Gi), CPU (1),
# CONCURRENCY (8), THREADS (1, 4 with MODELS; see bench/RESULTS.md), WORKERS and PREDICT_THREADS
# (CPU's whole vCPUs), MIN_INSTANCES, MAX_INSTANCES,
# TIMEOUT, MODEL_SHA256, MODEL_RELOAD_SECONDS, MAX_ROWS, GCS_TIMEOUT_SECONDS, LOADER_PROCESS,
# BODY_TIMEOUT_SECONDS, SKOPS_TRUSTED_TYPES, UNKNOWN_FEATURES, PRELOAD, MLFLOW_TRACKING_URI,
# MLFLOW_TRACKING_USERNAME, TRACKING_AUTH, MLFLOW_HTTP_REQUEST_TIMEOUT; Secret Manager secrets
# mounted as variables: API_KEYS_SECRET (as API_KEYS), MLFLOW_TRACKING_PASSWORD_SECRET,
# MLFLOW_TRACKING_TOKEN_SECRET; PREDICTION_LOG_SAMPLE, PREDICTION_LOG_MAX_BYTES; PAYLOAD (for
# call; examples/payload.json). capture: the BigQuery dataset BIGQUERY_DATASET (created in
# GCP_REGION if missing) and the log sink CAPTURE_SINK (<function>-predictions) that fills it.
# deploy-batch: score_file on BATCH_BUCKET's finalized objects (BATCH_FUNCTION_NAME, <function>-batch;
# BATCH_SERVICE_ACCOUNT; BATCH_INPUT_PREFIX, BATCH_OUTPUT_PREFIX, BATCH_OUTPUT_BUCKET,
# BATCH_KEY_FIELD, BATCH_OUTPUT, BATCH_CHUNK_ROWS), retried on failure, 9 minutes per file.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
usage() { sed -n '2,20s/^# \{0,1\}//p' "$here/deploy.sh"; }
die() { echo "deploy.sh: $*" >&2; exit 2; }

command_name=deploy
dry_run=false
public=false
for arg in "$@"; do
  case "$arg" in
    deploy | delete | describe | url | call | capture | deploy-batch) command_name="$arg" ;;
    --dry-run) dry_run=true ;;
    --allow-unauthenticated) public=true ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$arg'" ;;
  esac
done

# .env.deploy fills in only what the environment does not set
if [[ -f "$here/.env.deploy" ]]; then
  while IFS='=' read -r key value; do
    [[ "$key" =~ ^[A-Z_][A-Z0-9_]*$ ]] || continue
    [[ -n "${!key:-}" ]] || export "$key=$value"
  done < "$here/.env.deploy"
fi

require() {
  local name
  for name in "$@"; do
    [[ -n "${!name:-}" ]] || die "$name is not set (export it or put $name=... in .env.deploy)"
  done
}

run() {
  if [[ "$dry_run" == true ]]; then
    printf '%q ' "$@" | sed 's/ $//'
    echo
  else
    "$@"
  fi
}

require GCP_PROJECT_ID GCP_REGION
# One vCPU takes 8 requests at a time; one gunicorn thread answers them in turn. The bench's
# THREADS sweep (bench/RESULTS.md): with 8 clients, 1 thread gave the most requests per second
# and the lowest p99; Python runs one thread at a time, and more threads only add switching.
# With MODELS, a model's first request loads it while others keep coming: 4 threads, so requests
# to the models already loaded are answered meanwhile (bench/many.py measures what a load costs them)
if [[ -n "${MODELS:-}" ]]; then : "${THREADS:=4}"; fi
: "${CPU:=1}" "${CONCURRENCY:=8}" "${THREADS:=1}"
# Two vCPUs or more: one gunicorn worker per vCPU (WORKERS; Python runs one thread at a time, so
# a second core serves only in a second process: the bench's sweep, whose 8 clients share the
# same 2 cores, measured 1.2-1.4x the requests per second), and a large request's native threads
# (a forest's trees, OpenMP, BLAS) one per whole vCPU, since what the instance reports of its
# CPUs need not be what it was given
whole_cpus=1
if [[ "$CPU" =~ ^[0-9]+$ ]] && ((CPU > 1)); then whole_cpus="$CPU"; fi
: "${PREDICT_THREADS:=$whole_cpus}"
if ((whole_cpus > 1)); then : "${WORKERS:=$whole_cpus}"; fi
payload="${PAYLOAD:-$here/examples/payload.json}"
[[ "$payload" == /* ]] || payload="$PWD/$payload"
cd "$here"  # the function's source is this folder (.gcloudignore picks the files)
name="${FUNCTION_NAME:-model-predict}"
where=(--gen2 "--region=$GCP_REGION" "--project=$GCP_PROJECT_ID")

env_vars() {
  # GOOGLE_CLOUD_PROJECT lets the request logs link to Cloud Trace
  local pairs=() key
  [[ -z "${MODEL_URI:-}" ]] || pairs+=("MODEL_URI=$MODEL_URI")
  pairs+=("GOOGLE_CLOUD_PROJECT=$GCP_PROJECT_ID")
  local settings=(MODELS MODEL_NAMES DEFAULT_MODEL MODEL_MEMORY_MB THREADS WORKERS PREDICT_THREADS MODEL_SHA256 MODEL_RELOAD_SECONDS MAX_ROWS GCS_TIMEOUT_SECONDS
    BODY_TIMEOUT_SECONDS SKOPS_TRUSTED_TYPES UNKNOWN_FEATURES PRELOAD LOADER_PROCESS MLFLOW_TRACKING_URI
    MLFLOW_TRACKING_USERNAME TRACKING_AUTH MLFLOW_HTTP_REQUEST_TIMEOUT PREDICTION_LOG_SAMPLE
    PREDICTION_LOG_MAX_BYTES BATCH_INPUT_PREFIX BATCH_OUTPUT_PREFIX BATCH_OUTPUT_BUCKET BATCH_KEY_FIELD
    BATCH_OUTPUT BATCH_CHUNK_ROWS)
  for key in "${settings[@]}"; do
    [[ -z "${!key:-}" ]] || pairs+=("$key=${!key}")
  done
  # gcloud's delimiter escape (`gcloud topic escaping`): values may hold commas, so the pairs are
  # joined by the first of these characters that no value holds (models:/wine@champion holds @)
  local delimiter pair
  for delimiter in '@' '|' '~' ';' '#' '!' '%' '+' '*' ','; do
    for pair in "${pairs[@]}"; do
      [[ "$pair" != *"$delimiter"* ]] || continue 2
    done
    local joined
    joined="$(IFS="$delimiter"; echo "${pairs[*]}")"
    echo "^$delimiter^$joined"
    return
  done
  die "--set-env-vars needs a separator that no value holds; these settings' values hold all of @|~;#!%+*, between them: ${pairs[*]%%=*}"
}

# MODEL_URI, or MODELS for many models by name
require_model() {
  [[ -n "${MODEL_URI:-}" || -n "${MODELS:-}" ]] || die "MODEL_URI is not set (export it or put MODEL_URI=... in .env.deploy; or MODELS for many models)"
}

deploy() {
  require_model
  local env_flag
  env_flag="--set-env-vars=$(env_vars)"  # apart from the list below: a refusal here stops the script
  local flags=(
    functions deploy "$name" "${where[@]}"
    --runtime=python312 --trigger-http --entry-point=predict --source=.
    "--memory=${MEMORY:-1Gi}"
    "$env_flag"
  )
  if [[ "$public" == true ]]; then flags+=(--allow-unauthenticated); else flags+=(--no-allow-unauthenticated); fi
  [[ -z "${SERVICE_ACCOUNT:-}" ]] || flags+=("--service-account=$SERVICE_ACCOUNT")
  [[ -z "${CPU:-}" ]] || flags+=("--cpu=$CPU")
  [[ -z "${CONCURRENCY:-}" ]] || flags+=("--concurrency=$CONCURRENCY")
  [[ -z "${MIN_INSTANCES:-}" ]] || flags+=("--min-instances=$MIN_INSTANCES")
  [[ -z "${MAX_INSTANCES:-}" ]] || flags+=("--max-instances=$MAX_INSTANCES")
  [[ -z "${TIMEOUT:-}" ]] || flags+=("--timeout=$TIMEOUT")
  local secrets=() variable secret
  for variable in API_KEYS MLFLOW_TRACKING_PASSWORD MLFLOW_TRACKING_TOKEN; do
    secret="${variable}_SECRET"
    [[ -z "${!secret:-}" ]] || secrets+=("$variable=${!secret}:latest")
  done
  if [[ ${#secrets[@]} -gt 0 ]]; then flags+=("--set-secrets=$(IFS=,; echo "${secrets[*]}")"); fi
  run gcloud "${flags[@]}"
}

url() {
  run gcloud functions describe "$name" "${where[@]}" --format='value(serviceConfig.uri)'
}

call() {
  local endpoint token
  if [[ "$dry_run" == true ]]; then
    url
    run gcloud auth print-identity-token
    echo "curl -sS -X POST \"\$URL/predict\" -H \"Authorization: Bearer \$TOKEN\" -H 'Content-Type: application/json' --data-binary @$payload"
    return
  fi
  endpoint="$(url)"
  token="$(gcloud auth print-identity-token)"
  curl -sS -X POST "$endpoint/predict" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' --data-binary "@$payload"
  echo
}

# score_file on the bucket's finalized objects; a failed delivery is retried by Eventarc
deploy_batch() {
  require_model
  require BATCH_BUCKET
  local env_flag
  env_flag="--set-env-vars=$(env_vars)"  # apart from the list below: a refusal here stops the script
  local flags=(
    functions deploy "${BATCH_FUNCTION_NAME:-$name-batch}" "${where[@]}"
    --runtime=python312 --entry-point=score_file --source=.
    --trigger-event-filters=type=google.cloud.storage.object.v1.finalized
    "--trigger-event-filters=bucket=$BATCH_BUCKET"
    --retry "--timeout=${TIMEOUT:-540s}" "--memory=${MEMORY:-1Gi}"
    "$env_flag"
  )
  [[ -z "${BATCH_SERVICE_ACCOUNT:-}" ]] || flags+=("--service-account=$BATCH_SERVICE_ACCOUNT")
  [[ -z "${CPU:-}" ]] || flags+=("--cpu=$CPU")
  run gcloud "${flags[@]}"
}

# the log entries the function's capture writes (predictor/web/capture.py), and nothing else
capture_filter() {
  printf '%s' "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"$name\"" \
    " AND jsonPayload.logger=\"predictor.capture\" AND jsonPayload.message=\"prediction\""
}

capture() {
  require BIGQUERY_DATASET
  local dataset="$GCP_PROJECT_ID:$BIGQUERY_DATASET" sink="${CAPTURE_SINK:-$name-predictions}" writer
  local destination="bigquery.googleapis.com/projects/$GCP_PROJECT_ID/datasets/$BIGQUERY_DATASET"
  if [[ "$dry_run" == true ]] || ! bq --project_id="$GCP_PROJECT_ID" show --dataset "$dataset" >/dev/null 2>&1; then
    run bq "--location=$GCP_REGION" "--project_id=$GCP_PROJECT_ID" mk --dataset \
      "--description=Predictions captured from $name" "$dataset"
  fi
  local sink_flags=("$destination" "--log-filter=$(capture_filter)" "--project=$GCP_PROJECT_ID")
  if [[ "$dry_run" != true ]] && gcloud logging sinks describe "$sink" "--project=$GCP_PROJECT_ID" >/dev/null 2>&1; then
    run gcloud logging sinks update "$sink" "${sink_flags[@]}"
  else
    run gcloud logging sinks create "$sink" "${sink_flags[@]}" --use-partitioned-tables
  fi
  if [[ "$dry_run" == true ]]; then
    run gcloud logging sinks describe "$sink" "--project=$GCP_PROJECT_ID" '--format=value(writerIdentity)'
    writer='WRITER_IDENTITY'
  else
    writer="$(gcloud logging sinks describe "$sink" "--project=$GCP_PROJECT_ID" '--format=value(writerIdentity)')"
  fi
  run bq "--project_id=$GCP_PROJECT_ID" add-iam-policy-binding "--member=$writer" \
    --role=roles/bigquery.dataEditor "$dataset"
}

case "$command_name" in
  deploy) deploy ;;
  delete) run gcloud functions delete "$name" "${where[@]}" --quiet ;;
  describe) run gcloud functions describe "$name" "${where[@]}" ;;
  url) url ;;
  call) call ;;
  capture) capture ;;
  deploy-batch) deploy_batch ;;
esac
