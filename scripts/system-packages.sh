# Debian packages voxgate's build and tests need, installed only when missing. Sourced by
# scripts/demo and scripts/test.
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
apt_ready=""
need_deb() { # need_deb CHECK PACKAGE: CHECK is a command, or pkg:NAME for a pkg-config library
  local check=$1 package=$2
  case "$check" in
    pkg:*) pkg-config --exists "${check#pkg:}" 2>/dev/null && return 0 ;;
    *) command -v "$check" >/dev/null 2>&1 && return 0 ;;
  esac
  install_deb "$package"
}
install_deb() {
  if [ -z "$apt_ready" ]; then as_root apt-get update -qq; apt_ready=1; fi
  echo "== installing $1 (Debian)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
}
# What building voxgate needs: libopus (Opus for talking agents) found through pkg-config.
need_build_packages() {
  need_deb pkg-config pkg-config
  need_deb pkg:opus libopus-dev
}
# The builtin voice: espeak-ng speaks, and PyPI's pocketsphinx 5 (which ships its US English
# model) recognises, in a venv under target/ (VOXGATE_SPEECH_VENV moves it). Sets speech_python
# to that venv's Python, for voxgate's --speech-python.
need_speech() {
  need_deb espeak-ng espeak-ng
  need_deb python3 python3
  local venv=${VOXGATE_SPEECH_VENV:-$PWD/target/speech-venv}
  need_venv "$venv" pocketsphinx 'pocketsphinx==5.1.1'
  speech_python="$venv/bin/python"
}
# Independent checkers the tests use instead of voxgate's own code: PyPI's standardwebhooks
# verifies the signatures of server tools. In a venv under target/; sets test_python to it.
need_test_python() {
  need_deb python3 python3
  local venv=${VOXGATE_TEST_VENV:-$PWD/target/test-venv}
  need_venv "$venv" standardwebhooks 'standardwebhooks==1.1.0'
  # An S3-compatible server for recordings in an object store (tests/tests/call_recordings.rs).
  need_venv "$venv" moto.server 'moto[server]==5.2.5'
  test_python="$venv/bin/python"
}
# The semantic end-of-turn model: Smart Turn v3.2 (BSD-2, Daily), as it ships inside PyPI's
# pipecat-ai wheel, and the ONNX Runtime library of PyPI's onnxruntime wheel, which voxgate loads
# at run time (`--turn-model DIR`). Both wheels are downloaded without their dependencies and only
# these files are kept, in target/turn-model (VOXGATE_TURN_MODEL_DIR moves it). Sets turn_model.
need_turn_model() {
  local dir=${VOXGATE_TURN_MODEL_DIR:-$PWD/target/turn-model}
  turn_model=$dir
  need_sentence_ends "$dir"
  [ -f "$dir/smart-turn-v3.2-cpu.onnx" ] && [ -f "$dir/libonnxruntime.so" ] && return 0
  need_deb python3 python3
  echo "== Smart Turn v3.2 (pipecat-ai 1.14.0) and ONNX Runtime 1.31.1 (PyPI wheels) in $dir"
  local wheels; wheels=$(mktemp -d)
  python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
      -d "$wheels" pipecat-ai==1.14.0 onnxruntime==1.31.1 2>/dev/null \
    || { python3 -m venv "$wheels/venv" 2>/dev/null || { install_deb python3-venv; python3 -m venv "$wheels/venv"; }
         "$wheels/venv/bin/pip" download -q --disable-pip-version-check --no-deps --only-binary=:all: \
           -d "$wheels" pipecat-ai==1.14.0 onnxruntime==1.31.1; }
  mkdir -p "$dir"
  python3 - "$wheels" "$dir" <<'PY'
import glob, sys, zipfile
wheels, out = sys.argv[1], sys.argv[2]
pipecat = zipfile.ZipFile(glob.glob(f"{wheels}/pipecat_ai-*.whl")[0])
for name, to in [("pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx", "smart-turn-v3.2-cpu.onnx"),
                 ("pipecat_ai-1.14.0.dist-info/licenses/LICENSE", "LICENSE-smart-turn")]:
    open(f"{out}/{to}", "wb").write(pipecat.read(name))
runtime = zipfile.ZipFile(glob.glob(f"{wheels}/onnxruntime-*.whl")[0])
lib = next(n for n in runtime.namelist() if n.startswith("onnxruntime/capi/libonnxruntime.so."))
open(f"{out}/libonnxruntime.so", "wb").write(runtime.read(lib))
PY
  rm -rf "$wheels"
}
# The words half of semantic end of turn: DIR/sentence-ends.tsv, the probability of a sentence
# ending after each word, from the bigrams of the US English language model in PyPI's
# pocketsphinx (the builtin voice's recogniser, so need_speech installs it); see
# engine/src/talk/sentence_end.rs.
need_sentence_ends() {
  local dir=$1
  [ -f "$dir/sentence-ends.tsv" ] && return 0
  need_speech
  mkdir -p "$dir"
  echo "== sentence ends from pocketsphinx's US English model in $dir/sentence-ends.tsv"
  "$speech_python" - "$dir/sentence-ends.tsv" <<'PY'
import os, sys
import pocketsphinx
model = os.path.join(pocketsphinx.get_model_path(), "en-us")
lm = pocketsphinx.NGramModel.readfile(os.path.join(model, "en-us.lm.bin"))
words = sorted({line.split(" ", 1)[0].split("(")[0] for line in open(os.path.join(model, "cmudict-en-us.dict"))})
# prob([w, h1, ...]) is log P(w | history, most recent first), log base 1.0001.
unknown = lm.prob(["</s>", "<unk>"])
with open(sys.argv[1] + ".part", "w") as out:
    out.write(f"<unk>\t{unknown}\n")
    for w in words:
        p = lm.prob(["</s>", w])
        if p != unknown:
            out.write(f"{w}\t{p}\n")
os.replace(sys.argv[1] + ".part", sys.argv[1])
PY
}
# need_venv DIR MODULE REQUIREMENT: a venv at DIR whose Python imports MODULE, installing
# REQUIREMENT from PyPI when it does not.
need_venv() {
  local venv=$1 module=$2 requirement=$3
  "$venv/bin/python" -c "import $module" 2>/dev/null && return 0
  echo "== $requirement (PyPI) in $venv"
  [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" 2>/dev/null || { install_deb python3-venv; rm -rf "$venv"; python3 -m venv "$venv"; }
  "$venv/bin/pip" install -q --disable-pip-version-check "$requirement"
}
# PostgreSQL for the multi-node tests and benchmarks: Debian's server binaries (no service is
# started; scripts/test-postgres runs a throwaway server in a folder of its own).
need_postgres() {
  ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || install_deb postgresql
}
